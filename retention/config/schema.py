"""How settings are declared, and the walks over the declarations.

A section is a frozen dataclass whose fields are declared with `setting(...)` (a key of its
TOML table), `secret(...)` (read from its environment variable only) or `table(...)` (a
sub-table: another such dataclass). Everything else is read from that tree: each key's dotted
name and environment variable, the reading of a TOML document (unknown keys refused), the
building of the frozen objects and the text of default.toml.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_type_hints

from retention.errors import ConfigError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "ENV_PREFIX",
    "Key",
    "build",
    "declared_keys",
    "read_document",
    "render_toml",
    "secret",
    "setting",
    "table",
    "toml_value",
]

ENV_PREFIX = "RETENTION_"

Check = Callable[[Any], Any]
KeyPath = tuple[str, ...]
Root = TypeVar("Root", bound="DataclassInstance")

_KEY = "retention.config.key"
_TABLE = "retention.config.table"


@dataclass(frozen=True, slots=True)
class Key:
    """One declared setting. `path` and `env` are filled in where the walk finds it."""

    default: Any  # as written in TOML
    check: Check  # raw value -> typed value, or ValueError saying what is wrong
    comment: str  # its lines in default.toml
    env: str = ""  # its environment variable; when declared "": RETENTION_<TABLE>_<KEY>
    literal_env: bool = False  # the variable's value is taken as it is, not parsed as TOML
    is_path: bool = False  # a file name, relative to the config file that names it
    in_files: bool = True  # False: read from its variable only (a secret)
    path: KeyPath = ()  # ("import", "batch_size")

    @property
    def name(self) -> str:
        """What errors call it: the dotted key, or the variable of a key only read from one."""
        return ".".join(self.path) if self.in_files else self.env


def setting(
    default: Any,
    check: Check,
    comment: str,
    *,
    env: str = "",
    literal_env: bool = False,
    path: bool = False,
) -> Any:
    """Declare a key: its default as written in TOML, the check of a raw value and the comment
    documenting it in default.toml (lines as written, common indentation removed; a key with
    an empty comment follows the key before it without a blank line). Its variable is
    RETENTION_<TABLE>_<KEY> (dots of nested tables become underscores) unless `env` names
    another. `path=True`: a file name, taken relative to the config file that names it and
    read literally from the environment, like a key declared with `literal_env=True`."""
    key = Key(
        default,
        check,
        inspect.cleandoc(comment),
        env=env,
        literal_env=literal_env or path,
        is_path=path,
    )
    return dataclasses.field(default=check(default), metadata={_KEY: key})


def secret(check: Check, *, env: str = "") -> Any:
    """Declare a value read only from its environment variable (literally), never from a file,
    and never shown: it is not in the repr or in default.toml. `check(None)` is its default."""
    key = Key(None, check, "", env, literal_env=True, in_files=False)
    return dataclasses.field(default=check(None), repr=False, metadata={_KEY: key})


def table(name: str = "") -> Any:
    """Declare a sub-table: the field's type is its section dataclass and `name` its TOML name
    (by default the field's), e.g. `imports: ImportSettings = table("import")`."""
    return dataclasses.field(kw_only=True, metadata={_TABLE: name})


@dataclass(frozen=True, slots=True)
class _Node:
    """A table of the tree: its keys (each named as its attribute) and its sub-tables."""

    cls: type[Any]
    path: KeyPath
    keys: tuple[Key, ...]
    tables: tuple[tuple[str, str, _Node], ...]  # attribute, TOML name, node


@cache
def _node(cls: type[Any], path: KeyPath) -> _Node:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{'.'.join(path) or 'the root'}: {cls!r} is not a dataclass")
    keys: list[Key] = []
    tables: list[tuple[str, str, _Node]] = []
    for member in dataclasses.fields(cls):
        if _KEY in member.metadata:
            key: Key = member.metadata[_KEY]
            full = (*path, member.name)
            env = key.env or f"{ENV_PREFIX}{'_'.join(full)}".upper()
            keys.append(dataclasses.replace(key, path=full, env=env))
        elif _TABLE in member.metadata:
            name = member.metadata[_TABLE] or member.name
            sub = _node(get_type_hints(cls)[member.name], (*path, name))
            tables.append((member.name, name, sub))
    return _Node(cls, path, tuple(keys), tuple(tables))


def _walk(node: _Node) -> Iterator[_Node]:
    """The tables depth first, each before its sub-tables (the order of default.toml)."""
    yield node
    for _, _, sub in node.tables:
        yield from _walk(sub)


@cache
def declared_keys(root: type[DataclassInstance]) -> tuple[Key, ...]:
    """Every key of the tree, in the order of default.toml. Two keys sharing a variable are a
    mistake in the declarations (TypeError)."""
    keys = tuple(key for node in _walk(_node(root, ())) for key in node.keys)
    seen: dict[str, str] = {}
    for key in keys:
        if key.env in seen:
            raise TypeError(f"{seen[key.env]} and {key.name} both use {key.env}")
        seen[key.env] = key.name
    return keys


def read_document(
    root: type[DataclassInstance], document: Mapping[str, Any], origin: Path | None
) -> dict[KeyPath, Any]:
    """The raw values of a parsed TOML document, by key path, refusing unknown keys; path keys
    are resolved against `origin`, the file the document comes from."""
    found: dict[KeyPath, Any] = {}
    _read_table(_node(root, ()), document, origin, found)
    return found


def _read_table(
    node: _Node, document: Mapping[str, Any], origin: Path | None, found: dict[KeyPath, Any]
) -> None:
    keys = {key.path[-1]: key for key in node.keys if key.in_files}
    tables = {name: sub for _, name, sub in node.tables}
    for name, value in document.items():
        dotted = ".".join((*node.path, name))
        if name in tables:
            if not isinstance(value, dict):
                raise ConfigError(dotted, "expected a [section] table")
            _read_table(tables[name], value, origin, found)
        elif name in keys:
            key = keys[name]
            if key.is_path and isinstance(value, str) and value and origin is not None:
                value = str((origin.parent / value).resolve())
            found[key.path] = value
        elif not node.path and not isinstance(value, dict):
            raise ConfigError(dotted, "expected a [section] table")
        elif isinstance(value, dict) and value:
            # An unknown table: name its first key, as a reader looks for a typo there.
            raise ConfigError(f"{dotted}.{next(iter(value))}", "unknown key")
        else:
            raise ConfigError(dotted, "unknown key")


def build(root: type[Root], values: Mapping[KeyPath, Any]) -> Root:
    """The frozen tree, from a typed value for every declared key."""
    built: Root = _build(_node(root, ()), values)
    return built


def _build(node: _Node, values: Mapping[KeyPath, Any]) -> Any:
    members = {key.path[-1]: values[key.path] for key in node.keys}
    members.update({attribute: _build(sub, values) for attribute, _, sub in node.tables})
    return node.cls(**members)


def toml_value(value: Any) -> str:
    """`value` in TOML syntax: a string, a boolean, a number or a list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, list | tuple):
        return f"[{', '.join(toml_value(item) for item in value)}]"
    raise TypeError(f"no TOML form for {value!r}")


def _comment(text: str) -> list[str]:
    return [f"# {line}".rstrip() for line in text.splitlines()]


def render_toml(root: type[DataclassInstance], header: str) -> str:
    """The TOML document of every key's comment and default, under the comment `header`."""
    lines = _comment(inspect.cleandoc(header))
    for node in _walk(_node(root, ())):
        keys = [key for key in node.keys if key.in_files]
        if not keys:
            continue
        lines.append("")
        if node.path:
            lines.append(f"[{'.'.join(node.path)}]")
        for index, key in enumerate(keys):
            if key.comment and index:
                lines.append("")
            lines += [*_comment(key.comment), f"{key.path[-1]} = {toml_value(key.default)}"]
    return "\n".join(lines) + "\n"

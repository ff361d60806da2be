"""Shared options and result printing. Only cli/ writes to stdout.

`--json` prints exactly one JSON object on stdout, whatever happens. Each command declares
the top-level keys of its document (`json_option(*keys)`); every document also carries
`error` (null on success) and `exit_code`, and a command that fails before it has a result
(bad input, config error, database unreachable, a refusal) prints its keys as null with the
error and the exit code (cli/__init__.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from retention.storage.audit import ChainHead

__all__ = [
    "JsonOption",
    "declare_json_keys",
    "dry_run_option",
    "echo_json",
    "failure_document",
    "head_json",
    "json_option",
]

F = TypeVar("F", bound=Callable[..., Any])

# ctx.meta entry (shared by every context of one invocation): the keys of the document the
# running command prints with --json, set once --json is parsed.
JSON_KEYS = "retention.json_keys"
ENVELOPE = ("error", "exit_code")


class JsonOption(click.Option):
    """`--json`, knowing the keys of its command's document."""

    def __init__(self, *args: Any, keys: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys = tuple(keys)


def _remember(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        assert isinstance(param, JsonOption)
        ctx.meta.setdefault(JSON_KEYS, param.keys)
    return value


def json_option(*keys: str) -> Callable[[F], F]:
    """--json, printing a document with these top-level keys (plus `error`, `exit_code`)."""

    def decorate(func: F) -> F:
        return click.option(
            "--json",
            "as_json",
            is_flag=True,
            cls=JsonOption,
            keys=keys,
            callback=_remember,
            help="Print exactly one JSON object on stdout (also when the command fails).",
        )(func)

    return decorate


def declare_json_keys(keys: Sequence[str]) -> None:
    """For a command whose document depends on an argument (`run JOB`): the keys, once known."""
    ctx = click.get_current_context()
    if JSON_KEYS in ctx.meta:
        ctx.meta[JSON_KEYS] = tuple(keys)


def dry_run_option(func: F) -> F:
    return click.option(
        "--dry-run", is_flag=True, help="Report what would change; change nothing."
    )(func)


def head_json(head: ChainHead | None) -> dict[str, Any] | None:
    return {"event_id": head.event_id, "hash": head.hash} if head is not None else None


def echo_json(document: dict[str, Any], *, error: str | None = None, exit_code: int = 0) -> None:
    """Print the command's document: exactly its declared keys, then `error` and `exit_code`."""
    declared = click.get_current_context().meta.get(JSON_KEYS)
    if declared is not None and set(document) != set(declared):
        raise AssertionError(f"JSON keys {sorted(document)} are not the declared {declared}")
    _print({**document, "error": error, "exit_code": exit_code})


def failure_document(keys: Sequence[str], error: str, exit_code: int) -> None:
    """The document of a command that failed before it had a result."""
    _print({**dict.fromkeys(keys), "error": error, "exit_code": exit_code})


def _print(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, sort_keys=True, default=str))

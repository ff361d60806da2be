"""Reading settings: the declared defaults, then a --config file, then environment, then CLI
options. Every key is checked up front; an unknown key or a bad value raises ConfigError
naming the key."""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from retention.config.schema import (
    ENV_PREFIX,
    Key,
    KeyPath,
    Root,
    build,
    declared_keys,
    read_document,
)
from retention.config.settings import Settings
from retention.errors import ConfigError

__all__ = ["load_settings", "read_settings"]

CONFIG_VARIABLE = f"{ENV_PREFIX}CONFIG"
# RETENTION_* names beginning with these belong to the test suite and the benchmarks.
_FOREIGN_PREFIXES = (f"{ENV_PREFIX}TEST_", f"{ENV_PREFIX}BENCH_")


def load_settings(
    config_path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge the defaults, the --config file (else RETENTION_CONFIG's), the environment and CLI
    overrides; validate all.

    `overrides` maps "section.key" to a value given on the command line (None = not given).
    """
    env = os.environ if environ is None else environ
    if config_path is None and env.get(CONFIG_VARIABLE):
        config_path = env[CONFIG_VARIABLE]
    config_file = Path(config_path) if config_path is not None else None
    settings = read_settings(Settings, config_file, environ=env, overrides=overrides or {})
    return dataclasses.replace(settings, config_file=config_file)


def read_settings(
    root: type[Root],
    config_file: Path | None,
    *,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any],
) -> Root:
    """`load_settings` for any tree of declared sections `root` (Settings, or a test's own):
    its declared defaults, then `config_file`, `environ` and `overrides` ("table.key" paths)."""
    keys = declared_keys(root)
    raw: dict[KeyPath, Any] = {key.path: key.default for key in keys}
    if config_file is not None:
        raw.update(read_document(root, _read_toml(config_file, "--config"), config_file))
    raw.update(_from_env(keys, environ))
    for dotted, value in overrides.items():
        path = tuple(dotted.split("."))
        if path not in raw:
            raise KeyError(f"no setting {dotted}")
        if value is not None:
            raw[path] = value

    values: dict[KeyPath, Any] = {}
    for key in keys:
        try:
            values[key.path] = key.check(raw[key.path])
        except ValueError as exc:
            raise ConfigError(key.name, str(exc)) from None
    return build(root, values)


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(what, f"file not found: {path}") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(what, f"cannot read {path}: {exc}") from None


def _env_value(raw: str) -> Any:
    """A variable's value in TOML syntax (RETENTION_IMPORT_BATCH_SIZE=500 is an int), else the
    string as it is."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _from_env(keys: tuple[Key, ...], environ: Mapping[str, str]) -> dict[KeyPath, Any]:
    """Values of the keys' variables. Any other RETENTION_* variable is refused like an unknown
    key in a file, except RETENTION_CONFIG and the RETENTION_TEST_* and RETENTION_BENCH_* names
    of the test suite and benchmarks."""
    allowed = [*(key.env for key in keys), CONFIG_VARIABLE]
    for name in environ:
        if name.startswith(ENV_PREFIX) and name not in allowed:
            if not name.startswith(_FOREIGN_PREFIXES):
                near = difflib.get_close_matches(name, allowed, n=1)
                hint = f" (did you mean {near[0]}?)" if near else ""
                raise ConfigError(name, f"unknown setting{hint}")
    return {
        key.path: raw if key.literal_env else _env_value(raw)
        for key in keys
        if (raw := environ.get(key.env)) is not None
    }

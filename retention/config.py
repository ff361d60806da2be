"""Settings: config/default.toml, then a --config file, then environment, then CLI options.

`load_settings` is the only reader. It validates every key up front and returns frozen
dataclasses; an unknown key or a bad value raises ConfigError naming the key.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from retention.domain.erasure import check_erased_fields
from retention.errors import ConfigError

__all__ = [
    "AuditSettings",
    "DatabaseSettings",
    "ErasureSettings",
    "ImportSettings",
    "LoggingSettings",
    "PurgeSettings",
    "RetentionSettings",
    "Settings",
    "SubjectSettings",
    "load_settings",
    "mask_url",
]

ENV_PREFIX = "RETENTION_"
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
MIN_KEY_LENGTH = 32


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    url: str
    busy_timeout_seconds: float

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


@dataclass(frozen=True, slots=True)
class SubjectSettings:
    key_file: Path | None
    # The secret itself, from RETENTION_SUBJECT_KEY; never printed.
    key: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class ImportSettings:
    batch_size: int
    max_errors_listed: int


@dataclass(frozen=True, slots=True)
class RetentionSettings:
    ceiling_years: int
    guard_max_share: float
    guard_max_leads: int
    # How far clocks may disagree: an import refuses an ingestionDate later than its clock
    # plus this; a purge refuses a clock this much earlier than the newest time it recorded.
    max_clock_skew_seconds: int


@dataclass(frozen=True, slots=True)
class PurgeSettings:
    batch_size: int
    workers: int
    vacuum: bool


@dataclass(frozen=True, slots=True)
class ErasureSettings:
    fields: tuple[str, ...]  # contactRequest fields set to null; phoneNumbers always becomes []
    batch_size: int  # requests per transaction
    workers: int  # PostgreSQL: batches carried out at once by one run, each on its connection
    vacuum: bool


@dataclass(frozen=True, slots=True)
class AuditSettings:
    anchor_file: Path | None


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    format: str
    level: str


@dataclass(frozen=True, slots=True)
class Settings:
    database: DatabaseSettings
    subject: SubjectSettings
    imports: ImportSettings
    retention: RetentionSettings
    purge: PurgeSettings
    erasure: ErasureSettings
    audit: AuditSettings
    logging: LoggingSettings
    config_file: Path | None = None


def mask_url(url: str) -> str:
    """Return `url` with any password replaced by ***, for display."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


# --- validators: each takes the raw value and returns the typed one or raises ValueError ----


def _positive_int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _worker_count(value: Any) -> int:
    # Each worker holds one pooled connection; the engine's pool has 5 (plus 10 overflow).
    count = _positive_int(value)
    if count > 8:
        raise ValueError("must be at most 8")
    return count


def _whole_or_zero(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    if value < 0:
        raise ValueError("must be 0 (automatic) or more")
    return value


def _whole_or_zero_seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number of seconds")
    if value < 0:
        raise ValueError("must be 0 or more")
    return value


def _positive_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if value <= 0:
        raise ValueError("must be greater than 0")
    return float(value)


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if not 0 < value <= 1:
        raise ValueError("must be a share between 0 (excluded) and 1, e.g. 0.2 for 20%")
    return float(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _field_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError('must be a list of field names, e.g. ["firstName", "lastName"]')
    return check_erased_fields(value)


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        text = _string(value).lower()
        if text not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return text

    return check


def _database_url(value: Any) -> str:
    text = _string(value).strip()
    try:
        url: URL = make_url(text)
    except ArgumentError:
        raise ValueError(
            "is not a database URL (sqlite:///FILE or postgresql+psycopg://...)"
        ) from None
    backend = url.get_backend_name()
    if backend == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError(
            "is an in-memory SQLite database, which loses every lead and audit event when the "
            "command ends: name a file, e.g. sqlite:///retention.db"
        )
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"backend {backend!r} is not supported (sqlite or postgresql)")
    if backend == "postgresql" and url.get_driver_name() != "psycopg":
        raise ValueError("PostgreSQL URLs must use the psycopg driver: postgresql+psycopg://...")
    return text


# Every known key: (section, key) -> validator. Types of env values are parsed from TOML syntax
# first (so RETENTION_IMPORT_BATCH_SIZE=500 is an int), falling back to the raw string.
_KEYS: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("database", "url"): _database_url,
    ("database", "busy_timeout_seconds"): _positive_float,
    ("subject", "key_file"): _string,
    ("import", "batch_size"): _positive_int,
    ("import", "max_errors_listed"): _positive_int,
    ("retention", "ceiling_years"): _positive_int,
    ("retention", "guard_max_share"): _share,
    ("retention", "guard_max_leads"): _positive_int,
    ("retention", "max_clock_skew_seconds"): _whole_or_zero_seconds,
    ("purge", "batch_size"): _whole_or_zero,
    ("purge", "workers"): _positive_int,
    ("purge", "vacuum"): _boolean,
    ("erasure", "fields"): _field_names,
    ("erasure", "batch_size"): _positive_int,
    ("erasure", "workers"): _worker_count,
    ("erasure", "vacuum"): _boolean,
    ("audit", "anchor_file"): _string,
    ("logging", "format"): _one_of(LOG_FORMATS),
    ("logging", "level"): _one_of(LOG_LEVELS),
}


# Keys naming files: relative paths are taken from the config file that names them.
_PATH_KEYS = ("key_file", "anchor_file")


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(what, f"file not found: {path}") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(what, f"cannot read {path}: {exc}") from None


def _flatten(document: Mapping[str, Any], origin: Path | None) -> dict[tuple[str, str], Any]:
    """Turn a parsed TOML document into {(section, key): value}, refusing unknown keys."""
    flat: dict[tuple[str, str], Any] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(section, "expected a [section] table")
        for key, value in table.items():
            if (section, key) not in _KEYS:
                raise ConfigError(f"{section}.{key}", "unknown key")
            if key in _PATH_KEYS and isinstance(value, str) and value and origin is not None:
                value = str((origin.parent / value).resolve())
            flat[(section, key)] = value
    return flat


def _env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


# RETENTION_* variables that are not settings: the config file and the subject key. Names
# beginning with these prefixes belong to the test suite and the benchmarks.
_OTHER_VARIABLES = (f"{ENV_PREFIX}CONFIG", f"{ENV_PREFIX}SUBJECT_KEY")
_FOREIGN_PREFIXES = (f"{ENV_PREFIX}TEST_", f"{ENV_PREFIX}BENCH_")


def _env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}_{key}".upper()


def _from_env(environ: Mapping[str, str]) -> dict[tuple[str, str], Any]:
    """Settings from RETENTION_<SECTION>_<KEY> variables. Any other RETENTION_* variable is
    refused like an unknown key in a file, except RETENTION_CONFIG, RETENTION_SUBJECT_KEY and
    the RETENTION_TEST_* and RETENTION_BENCH_* names of the test suite and benchmarks."""
    names = {_env_name(section, key): (section, key) for section, key in _KEYS}
    flat: dict[tuple[str, str], Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        if name in names:
            section, key = names[name]
            flat[(section, key)] = raw if key in ("url", *_PATH_KEYS) else _env_value(raw)
        elif name not in _OTHER_VARIABLES and not name.startswith(_FOREIGN_PREFIXES):
            near = difflib.get_close_matches(name, [*names, *_OTHER_VARIABLES], n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise ConfigError(name, f"unknown setting{hint}")
    return flat


def _default_document() -> dict[str, Any]:
    text = resources.files("retention").joinpath("default.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_settings(
    config_path: str | Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge default.toml, the --config file, the environment and CLI overrides; validate all.

    `overrides` maps "section.key" to a value given on the command line (None = not given).
    """
    env = os.environ if environ is None else environ
    merged = _flatten(_default_document(), None)
    if config_path is None and env.get(f"{ENV_PREFIX}CONFIG"):
        config_path = env[f"{ENV_PREFIX}CONFIG"]
    config_file = Path(config_path) if config_path is not None else None
    if config_file is not None:
        merged.update(_flatten(_read_toml(config_file, "--config"), config_file))
    merged.update(_from_env(env))
    for dotted, value in (overrides or {}).items():
        if value is not None:
            section, key = dotted.split(".", 1)
            merged[(section, key)] = value

    values: dict[tuple[str, str], Any] = {}
    for (section, key), check in _KEYS.items():
        try:
            values[(section, key)] = check(merged[(section, key)])
        except ValueError as exc:
            raise ConfigError(f"{section}.{key}", str(exc)) from None

    secret = env.get(f"{ENV_PREFIX}SUBJECT_KEY") or None
    if secret is not None and len(secret.strip()) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{ENV_PREFIX}SUBJECT_KEY", f"must be at least {MIN_KEY_LENGTH} characters"
        )
    key_file = values[("subject", "key_file")]
    return Settings(
        database=DatabaseSettings(
            url=values[("database", "url")],
            busy_timeout_seconds=values[("database", "busy_timeout_seconds")],
        ),
        subject=SubjectSettings(
            key_file=Path(key_file) if key_file else None,
            key=secret.strip() if secret else None,
        ),
        imports=ImportSettings(
            batch_size=values[("import", "batch_size")],
            max_errors_listed=values[("import", "max_errors_listed")],
        ),
        retention=RetentionSettings(
            ceiling_years=values[("retention", "ceiling_years")],
            guard_max_share=values[("retention", "guard_max_share")],
            guard_max_leads=values[("retention", "guard_max_leads")],
            max_clock_skew_seconds=values[("retention", "max_clock_skew_seconds")],
        ),
        purge=PurgeSettings(
            batch_size=values[("purge", "batch_size")],
            workers=values[("purge", "workers")],
            vacuum=values[("purge", "vacuum")],
        ),
        erasure=ErasureSettings(
            fields=values[("erasure", "fields")],
            batch_size=values[("erasure", "batch_size")],
            workers=values[("erasure", "workers")],
            vacuum=values[("erasure", "vacuum")],
        ),
        audit=AuditSettings(
            anchor_file=Path(anchor) if (anchor := values[("audit", "anchor_file")]) else None
        ),
        logging=LoggingSettings(
            format=values[("logging", "format")],
            level=values[("logging", "level")],
        ),
        config_file=config_file,
    )

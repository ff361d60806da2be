"""The checks of setting values: each takes a raw value (from TOML, the environment or a CLI
option) and returns the typed one, or raises ValueError saying what is wrong with it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from retention.domain.erasure import check_erased_fields

__all__ = [
    "REPORT_FORMATS",
    "boolean",
    "cron_expression",
    "database_url",
    "field_names",
    "folder_path",
    "long_secret",
    "number",
    "one_of",
    "optional_http_url",
    "optional_path",
    "report_formats",
    "text",
    "time_zone",
    "whole_number",
]


def whole_number(
    low: int, high: int | None = None, *, unit: str = "", low_text: str = ""
) -> Callable[[Any], int]:
    """An int from `low` to `high` (a boolean is no number). `unit` follows "a whole number"
    in the type error; `low_text` replaces "at least LOW" in the error of a value below it."""

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be a whole number{unit}")
        if value < low:
            raise ValueError(f"must be {low_text or f'at least {low}'}")
        if high is not None and value > high:
            raise ValueError(f"must be at most {high}")
        return value

    return check


def number(
    above: float, at_most: float | None = None, *, range_text: str
) -> Callable[[Any], float]:
    """A float greater than `above` and at most `at_most`; `range_text` says so when not."""

    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a number")
        if not value > above or (at_most is not None and value > at_most):
            raise ValueError(f"must be {range_text}")
        return float(value)

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    """One of `choices`, whatever its case."""

    def check(value: Any) -> str:
        choice = text(value).lower()
        if choice not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return choice

    return check


def optional_path(value: Any) -> Path | None:
    """A file name; the empty string is none."""
    name = text(value)
    return Path(name) if name else None


def folder_path(value: Any) -> Path:
    """A folder name, not empty."""
    name = text(value).strip()
    if not name:
        raise ValueError("must name a folder")
    return Path(name)


REPORT_FORMATS = ("html", "json", "csv", "text")


def report_formats(value: Any) -> tuple[str, ...]:
    """A non-empty list of report formats, each once."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ValueError(
            f'must be a list of formats, e.g. ["html", "json"] ({", ".join(REPORT_FORMATS)})'
        )
    formats = tuple(dict.fromkeys(v.strip().lower() for v in value))
    unknown = [f for f in formats if f not in REPORT_FORMATS]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a format: {', '.join(REPORT_FORMATS)}")
    return formats


def long_secret(minimum: int) -> Callable[[Any], str | None]:
    """A secret of at least `minimum` characters once trimmed; unset or empty is none."""

    def check(value: Any) -> str | None:
        if not value:
            return None
        secret = text(value).strip()
        if len(secret) < minimum:
            raise ValueError(f"must be at least {minimum} characters")
        return secret

    return check


def field_names(value: Any) -> tuple[str, ...]:
    """The contactRequest fields an erasure nulls (checked by the erasure rules)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError('must be a list of field names, e.g. ["firstName", "lastName"]')
    return check_erased_fields(value)


def database_url(value: Any) -> str:
    """A SQLite file or a PostgreSQL database reached through psycopg."""
    url_text = text(value).strip()
    try:
        url: URL = make_url(url_text)
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
    return url_text


def cron_expression(value: Any) -> str:
    """A five-field cron expression (minute hour day-of-month month day-of-week). Its values
    are checked where it is read (jobs/scheduler.py), which names the key too."""
    expression = " ".join(text(value).split())
    if len(expression.split(" ")) != 5:
        raise ValueError(
            "must be a five-field cron expression (minute hour day month weekday), "
            'e.g. "*/15 * * * *"'
        )
    return expression


def time_zone(value: Any) -> str:
    """An IANA time zone name, e.g. UTC or Europe/Paris."""
    name = text(value).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{name!r} is not a time zone (an IANA name: UTC, Europe/Paris, ...)"
        ) from None
    return name


def optional_http_url(value: Any) -> str | None:
    """An http(s) URL; the empty string is none."""
    address = text(value).strip()
    if not address:
        return None
    if not address.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL, e.g. http://pushgateway:9091")
    return address

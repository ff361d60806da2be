"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["JSONDocument", "UTCDateTime", "sqlite_datetime_text"]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; timestamptz on PostgreSQL, naive UTC text on SQLite."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class JSONDocument(TypeDecorator[Any]):
    """A JSON document, read back as Python values: jsonb on PostgreSQL (queryable, updatable
    in place), JSON text on SQLite.

    `binary=False`: json on PostgreSQL, the text as written (checked, not parsed into jsonb),
    for large documents written far more often than queried inside; `payload::jsonb` gives
    the jsonb functions, and a jsonb value assigned to the column is cast back implicitly.
    """

    impl = JSON
    cache_ok = True

    def __init__(self, *, binary: bool = True) -> None:
        super().__init__()
        self.binary = binary

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            # Imported here: the PostgreSQL dialect package pulls in asyncio, which a SQLite
            # store never needs.
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB() if self.binary else JSON())
        return dialect.type_descriptor(JSON())


def sqlite_datetime_text(value: datetime) -> str:
    """An aware datetime as UTCDateTime stores it on SQLite (SQLAlchemy's DATETIME text), for
    writers that bypass SQLAlchemy's type processing. SQLite compares these as strings, so
    the format must be exactly the same."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond:06d}"

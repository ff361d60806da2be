"""Writing imported leads in bulk: the import's hot path, one class per dialect.

Both write the same rows with the same upsert rule (a lead erased in the store is never
rewritten); they differ only in how rows reach the server. SQLAlchemy's per-row parameter
processing is bypassed: rows arrive with their JSON already serialized.
- PostgreSQL: COPY into a temporary staging table, then one INSERT ... SELECT ... ON CONFLICT.
- SQLite: one executemany of INSERT ... ON CONFLICT straight to the driver.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection

from retention.domain.lead import Lead
from retention.storage.leads import existing_lead_ids
from retention.storage.types import sqlite_datetime_text

__all__ = [
    "LeadWriter",
    "PostgresLeadWriter",
    "SQLiteLeadWriter",
    "UpsertOutcome",
    "lead_row",
    "lead_writer",
]

COLUMNS = (
    "lead_id", "category", "portal", "ingestion_date", "ttl", "first_name", "last_name", "name",
    "gender", "email", "language", "message", "is_owner", "phone_numbers", "payload",
    "imported_at", "updated_at",
)  # fmt: skip
# Rewritten on conflict; imported_at keeps the first import's time.
_UPDATED = [c for c in COLUMNS if c not in ("lead_id", "imported_at")]
_COLUMN_LIST = ", ".join(COLUMNS)
_UPSERT_TAIL = (
    " ON CONFLICT (lead_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _UPDATED)
    + " WHERE leads.erased_at IS NULL"
)

Row = tuple[Any, ...]


def lead_row(lead: Lead, payload: str, now: datetime) -> Row:
    """The lead's values in COLUMNS order; `payload` is its JSON text as received."""
    phones = json.dumps(
        [{"type": p.type, "number": p.number, "verified": p.verified} for p in lead.phone_numbers],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return (
        lead.lead_id, lead.category, lead.portal, lead.ingestion_date, lead.ttl,
        lead.first_name, lead.last_name, lead.name, lead.gender, lead.email, lead.language,
        lead.message, lead.is_owner, phones, payload, now, now,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class UpsertOutcome:
    inserted: int
    updated: int
    written: list[str]  # lead ids written; a lead erased in the store is not


class LeadWriter(Protocol):
    def upsert(self, conn: Connection, rows: Sequence[Row]) -> UpsertOutcome: ...


class SQLiteLeadWriter:
    _UPSERT = (
        f"INSERT INTO leads ({_COLUMN_LIST}) VALUES ({', '.join('?' * len(COLUMNS))})"
        + _UPSERT_TAIL
    )
    _DATETIMES = tuple(
        COLUMNS.index(c) for c in ("ingestion_date", "ttl", "imported_at", "updated_at")
    )

    def upsert(self, conn: Connection, rows: Sequence[Row]) -> UpsertOutcome:
        existing = existing_lead_ids(conn, [row[0] for row in rows])
        rows = [row for row in rows if not existing.get(row[0])]
        converted = []
        for row in rows:
            values = list(row)
            for index in self._DATETIMES:
                values[index] = sqlite_datetime_text(values[index])
            converted.append(tuple(values))
        if converted:
            conn.exec_driver_sql(self._UPSERT, converted)
        updated = len(existing) - sum(existing.values())
        return UpsertOutcome(len(rows) - updated, updated, [row[0] for row in rows])


class PostgresLeadWriter:
    _STAGING = "retention_import_leads"

    def __init__(self) -> None:
        self._staging_ready = False

    def upsert(self, conn: Connection, rows: Sequence[Row]) -> UpsertOutcome:
        if not rows:
            return UpsertOutcome(0, 0, [])
        driver = conn.connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor:
            if not self._staging_ready:
                # Dropped at commit or rollback: nothing is left behind either way.
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {self._STAGING} "
                    "(LIKE leads INCLUDING DEFAULTS) ON COMMIT DROP"
                )
                self._staging_ready = True
            else:
                cursor.execute(f"TRUNCATE {self._STAGING}")
            with cursor.copy(f"COPY {self._STAGING} ({_COLUMN_LIST}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            # xmax = 0 marks a row this statement inserted; updated rows carry our xmax; a
            # row the WHERE clause left alone (an erased lead) is not returned at all.
            cursor.execute(
                f"INSERT INTO leads ({_COLUMN_LIST}) "
                f"SELECT {_COLUMN_LIST} FROM {self._STAGING}"
                + _UPSERT_TAIL
                + " RETURNING lead_id, (xmax = 0)"
            )
            returned = cursor.fetchall()
        inserted = sum(1 for _, is_new in returned if is_new)
        return UpsertOutcome(inserted, len(returned) - inserted, [row[0] for row in returned])


def lead_writer(conn: Connection) -> LeadWriter:
    """A writer for one import (one transaction) on this connection."""
    if conn.dialect.name == "postgresql":
        return PostgresLeadWriter()
    return SQLiteLeadWriter()

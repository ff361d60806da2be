"""Writing imported leads in bulk: the import's hot path, one class per dialect.

Both write the same rows with the same upsert rule (a lead erased in the store is never
rewritten); they differ only in how rows reach the server. SQLAlchemy's per-row parameter
processing is bypassed: rows arrive with their JSON already serialized.
- PostgreSQL: a batch of leads none of which is in the store yet (the common case: a first
  import) is copied straight into `leads` (binary COPY); otherwise COPY into a temporary
  staging table, then one INSERT ... SELECT ... ON CONFLICT. Imports into one store take a
  transaction-scoped advisory lock, so no other import can insert a lead between the check
  and the COPY: concurrent imports run one after the other.
- SQLite: one executemany of INSERT ... ON CONFLICT straight to the driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring as _encode_string  # what json.dumps uses
from typing import Any, Protocol

from sqlalchemy import Connection

from retention.domain.lead import Lead, PhoneNumber
from retention.storage.leads import existing_lead_ids
from retention.storage.locks import TransactionLock, transaction_lock_sql
from retention.storage.types import sqlite_datetime_text

__all__ = [
    "LeadWriter",
    "PostgresLeadWriter",
    "SQLiteLeadWriter",
    "UpsertOutcome",
    "lead_row",
    "lead_writer",
    "phone_numbers_json",
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


def _json_value(value: str | bool | None) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return _encode_string(value)


def phone_numbers_json(phones: Sequence[PhoneNumber]) -> str:
    """`[{"type": ..., "number": ..., "verified": ...}, ...]` as compact JSON text, exactly as
    json.dumps(..., ensure_ascii=False, separators=(",", ":")) writes it, several times
    faster (tests/test_lead_writer.py)."""
    return (
        "["
        + ",".join(
            f'{{"type":{_json_value(p.type)},"number":{_json_value(p.number)},'
            f'"verified":{_json_value(p.verified)}}}'
            for p in phones
        )
        + "]"
    )


def lead_row(lead: Lead, payload: str, now: datetime) -> Row:
    """The lead's values in COLUMNS order; `payload` is its JSON text as received."""
    phones = phone_numbers_json(lead.phone_numbers)
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
    # Those of `written` that were already in the store (rewritten): only they can have
    # subject hashes to replace.
    replaced: list[str]


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
        replaced = [lead_id for lead_id, erased in existing.items() if not erased]
        return UpsertOutcome(
            len(rows) - len(replaced), len(replaced), [row[0] for row in rows], replaced
        )


# Column types of COLUMNS, for binary COPY (no text parsing of timestamps on the server).
# Strings go as `text`, whose binary form every string column (varchar too) reads.
_BINARY_TYPES = (
    "text", "text", "text", "timestamptz", "timestamptz", "text", "text", "text", "text",
    "text", "text", "text", "bool", "jsonb", "json", "timestamptz", "timestamptz",
)  # fmt: skip


def _json_text(text: str) -> str:
    """The JSON text as it is: the rows' JSON columns arrive already serialized."""
    return text


class PostgresLeadWriter:
    _STAGING = "retention_import_leads"

    def __init__(self) -> None:
        self._started = False
        self._staging_ready = False

    def upsert(self, conn: Connection, rows: Sequence[Row]) -> UpsertOutcome:
        if not rows:
            return UpsertOutcome(0, 0, [], [])
        driver = conn.connection.driver_connection
        assert driver is not None
        ids = [row[0] for row in rows]
        # Imported here: a SQLite store never loads the PostgreSQL driver.
        from psycopg.types.json import set_json_dumps

        with driver.cursor() as cursor:
            # The JSON columns' values are JSON text already: dump them as they are.
            set_json_dumps(_json_text, cursor)
            if not self._started:
                self._start(cursor)
            # One text parameter rather than an array of 2,000 (psycopg dumps those slowly);
            # a lead id is printable, so it never holds the separator.
            cursor.execute(
                "SELECT 1 FROM leads WHERE lead_id = ANY(string_to_array(%s, chr(31))) LIMIT 1",
                ("\x1f".join(ids),),
            )
            if cursor.fetchone() is None:
                # None is in the store, and no other import can add one before we commit.
                self._copy(cursor, "leads", rows)
                return UpsertOutcome(len(rows), 0, ids, [])
            if not self._staging_ready:
                # Dropped at commit or rollback: nothing is left behind either way.
                cursor.execute(
                    f"CREATE TEMPORARY TABLE {self._STAGING} "
                    "(LIKE leads INCLUDING DEFAULTS) ON COMMIT DROP"
                )
                self._staging_ready = True
            else:
                cursor.execute(f"TRUNCATE {self._STAGING}")
            self._copy(cursor, self._STAGING, rows)
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
        return UpsertOutcome(
            inserted,
            len(returned) - inserted,
            [lead_id for lead_id, _ in returned],
            [lead_id for lead_id, is_new in returned if not is_new],
        )

    def _start(self, cursor: Any) -> None:
        """Once per import (transaction), before its first write."""
        # Held until commit or rollback: the check that a batch's leads are all new stays
        # true until its COPY (a concurrent import waits here, then sees them).
        cursor.execute(transaction_lock_sql(TransactionLock.IMPORT))
        # lz4 compresses the long values (payload, message) several times faster than the
        # server's default pglz, at a similar size; readers decompress either transparently.
        # For this transaction only, where the server supports it.
        cursor.execute(
            "SELECT set_config('default_toast_compression', 'lz4', true) FROM pg_settings "
            "WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        )
        self._started = True

    @staticmethod
    def _copy(cursor: Any, table: str, rows: Sequence[Row]) -> None:
        with cursor.copy(f"COPY {table} ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_BINARY_TYPES)
            for row in rows:
                copy.write_row(row)


def lead_writer(conn: Connection) -> LeadWriter:
    """A writer for one import (one transaction) on this connection."""
    if conn.dialect.name == "postgresql":
        return PostgresLeadWriter()
    return SQLiteLeadWriter()

"""Erasing lead rows in place and reading them back: one class per dialect, one interface.

The policy's fields become null and phone numbers `[]` in the columns and inside the stored
upstream JSON (`payload.contactRequest`) in one UPDATE per chunk of lead ids; the rows are then
read back to verify that nothing of those fields is left. Both dialects write the same values;
they differ in their JSON functions and in how they lock:
- PostgreSQL: jsonb operators; rows locked in lead id order with SKIP LOCKED, so a row another
  transaction holds (an import writing it, another erasure) is never waited for but reported
  busy, for a later run: no deadlock, no erasure stuck behind a long import;
- SQLite: json_set paths; a writing transaction is alone, so nothing is ever busy.
Field names come from the validated policy (domain/erasure.py), so they are written into the
SQL as literals; values are bound.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.sql.elements import TextClause

from retention.domain.erasure import ErasedFields
from retention.storage.dialect import chunks
from retention.storage.erasure import ErasedLead, RowErasure, unerased_lead_ids
from retention.storage.leads import delete_lead_subjects
from retention.storage.schema import leads
from retention.storage.types import UTCDateTime

__all__ = [
    "LeadEraser",
    "PostgresLeadEraser",
    "SQLiteLeadEraser",
    "lead_eraser",
]


class LeadEraser(Protocol):
    def erase(
        self, conn: Connection, lead_ids: Sequence[str], fields: ErasedFields, now: datetime
    ) -> RowErasure:
        """Erase those of `lead_ids` not erased yet (an erased lead is left as it is) and drop
        their subject hashes: an erased lead no longer belongs to anyone."""
        ...

    def keeping_values(
        self, conn: Connection, lead_ids: Sequence[str], fields: ErasedFields
    ) -> list[str]:
        """Those of `lead_ids` that still hold a value of `fields` (column or payload) or a
        phone number, or are not marked erased: the read-back."""
        ...


def _column_type(conn: Connection, name: str) -> str:
    return str(leads.c[name].type.compile(dialect=conn.dialect))


class _Eraser:
    """The UPDATE both dialects run; subclasses give their JSON, locking and id binding."""

    ids_clause: str

    def erase(
        self, conn: Connection, lead_ids: Sequence[str], fields: ErasedFields, now: datetime
    ) -> RowErasure:
        assignments = [f"{column} = NULL" for _, column in fields.columns] + [
            f"phone_numbers = {self.no_phones(conn)}",
            f"payload = {self.payload_update(conn, fields)}",
            "erased_at = :now",
            "updated_at = :now",
        ]
        statement = self.bind_ids(
            text(
                f"UPDATE leads SET {', '.join(assignments)} WHERE {self.target()} "
                "RETURNING lead_id, category, portal"
            ).bindparams(bindparam("now", type_=UTCDateTime()))
        )
        params = {"now": now, **self.payload_params(fields)}
        erased: list[ErasedLead] = []
        for chunk in chunks(lead_ids):
            rows = conn.execute(statement, {**params, "ids": list(chunk)})
            erased.extend(ErasedLead(*row) for row in rows)
        delete_lead_subjects(conn, [lead.lead_id for lead in erased])
        return RowErasure(erased, self.busy(conn, lead_ids, erased))

    def keeping_values(
        self, conn: Connection, lead_ids: Sequence[str], fields: ErasedFields
    ) -> list[str]:
        statement = self.bind_ids(text(self.verification_sql(fields)))
        left: list[str] = []
        for chunk in chunks(lead_ids):
            left.extend(conn.scalars(statement, {"ids": list(chunk)}))
        return left

    # --- what each dialect says its own way ----------------------------------------------

    def target(self) -> str:
        raise NotImplementedError

    def no_phones(self, conn: Connection) -> str:
        raise NotImplementedError

    def payload_update(self, conn: Connection, fields: ErasedFields) -> str:
        raise NotImplementedError

    def payload_params(self, fields: ErasedFields) -> dict[str, Any]:
        return {}

    def bind_ids(self, statement: TextClause) -> TextClause:
        return statement

    def busy(
        self, conn: Connection, lead_ids: Sequence[str], erased: Sequence[ErasedLead]
    ) -> list[str]:
        return []

    def verification_sql(self, fields: ErasedFields) -> str:
        raise NotImplementedError


class PostgresLeadEraser(_Eraser):
    ids_clause = "lead_id = ANY(:ids)"

    def target(self) -> str:
        return (
            "lead_id IN (SELECT lead_id FROM leads WHERE lead_id = ANY(:ids) "
            "AND erased_at IS NULL ORDER BY lead_id FOR UPDATE SKIP LOCKED)"
        )

    def no_phones(self, conn: Connection) -> str:
        return f"CAST('[]' AS {_column_type(conn, 'phone_numbers')})"

    def payload_update(self, conn: Connection, fields: ErasedFields) -> str:
        # jsonb operators; cast back to the column's type (jsonb or json).
        return (
            "CAST(jsonb_set(CAST(payload AS jsonb), '{contactRequest}', "
            "COALESCE(CAST(payload AS jsonb) -> 'contactRequest', '{}'::jsonb) "
            f"|| CAST(:erased_contact AS jsonb)) AS {_column_type(conn, 'payload')})"
        )

    def payload_params(self, fields: ErasedFields) -> dict[str, Any]:
        return {"erased_contact": json.dumps({**dict.fromkeys(fields.names), "phoneNumbers": []})}

    def busy(
        self, conn: Connection, lead_ids: Sequence[str], erased: Sequence[ErasedLead]
    ) -> list[str]:
        """Those of `lead_ids` still not erased after the UPDATE: another transaction held
        them (SKIP LOCKED)."""
        if len(erased) == len(lead_ids):
            return []
        done = {lead.lead_id for lead in erased}
        return sorted(unerased_lead_ids(conn, [i for i in lead_ids if i not in done]))

    def verification_sql(self, fields: ErasedFields) -> str:
        # Each row's JSON is parsed once, in a materialized CTE, not once per field.
        columns = [column for _, column in fields.columns]
        found = ["erased_at IS NULL", *(f"{column} IS NOT NULL" for column in columns)]
        found += [
            f"COALESCE(jsonb_typeof(contact -> '{name}'), 'null') <> 'null'"
            for name in fields.names
        ]
        found += [
            "CAST(phone_numbers AS jsonb) <> '[]'::jsonb",
            "COALESCE(contact -> 'phoneNumbers', '[]'::jsonb) <> '[]'::jsonb",
        ]
        return (
            "WITH rows AS MATERIALIZED (SELECT lead_id, erased_at, phone_numbers, "
            + "".join(f"{column}, " for column in columns)
            + "CAST(payload AS jsonb) -> 'contactRequest' AS contact FROM leads "
            f"WHERE {self.ids_clause}) SELECT lead_id FROM rows WHERE {' OR '.join(found)}"
        )


class SQLiteLeadEraser(_Eraser):
    ids_clause = "lead_id IN :ids"

    def target(self) -> str:
        return "lead_id IN :ids AND erased_at IS NULL"

    def no_phones(self, conn: Connection) -> str:
        return "'[]'"  # JSON text; a CAST to JSON would take NUMERIC affinity and give 0

    def payload_update(self, conn: Connection, fields: ErasedFields) -> str:
        paths = "".join(f", '$.contactRequest.{name}', NULL" for name in fields.names)
        return f"json_set(payload{paths}, '$.contactRequest.phoneNumbers', json('[]'))"

    def bind_ids(self, statement: TextClause) -> TextClause:
        return statement.bindparams(bindparam("ids", expanding=True))

    def verification_sql(self, fields: ErasedFields) -> str:
        # One parse: the values of every policy path and of phoneNumbers, as one JSON array.
        columns = [column for _, column in fields.columns]
        found = ["erased_at IS NULL", *(f"{column} IS NOT NULL" for column in columns)]
        paths = ", ".join(f"'$.contactRequest.{name}'" for name in (*fields.names, "phoneNumbers"))
        nulls = ",".join("null" for _ in fields.names)
        found += [
            "json(phone_numbers) <> '[]'",
            f"json_extract(payload, {paths}) NOT IN ('[{nulls},[]]', '[{nulls},null]')",
        ]
        return f"SELECT lead_id FROM leads WHERE {self.ids_clause} AND ({' OR '.join(found)})"


def lead_eraser(conn: Connection) -> LeadEraser:
    """The eraser of this connection's dialect."""
    if conn.dialect.name == "postgresql":
        return PostgresLeadEraser()
    return SQLiteLeadEraser()

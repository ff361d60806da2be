"""Erasing leads in place: set-based statements over a batch of lead ids, for both dialects.

The policy's fields become null and phone numbers `[]` in the columns and inside the stored
upstream JSON (`payload.contactRequest`) in one UPDATE per batch; the rows are then read back
to verify that nothing of those fields is left. Field names come from validated config
(`[A-Za-z][A-Za-z0-9_]*`), so they are written into the SQL as literals; values are bound.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select, text, union
from sqlalchemy.sql.elements import TextClause

from retention.domain.erasure import FIELD_COLUMNS
from retention.storage.dialect import ids_condition
from retention.storage.holds import active_condition
from retention.storage.leads import delete_lead_subjects
from retention.storage.schema import lead_subjects, leads, legal_holds
from retention.storage.types import UTCDateTime

__all__ = [
    "ErasedLead",
    "RowErasure",
    "erase_lead_rows",
    "fields_with_values",
    "held_lead_ids",
    "leads_keeping_values",
    "subject_lead_ids",
    "unerased_lead_ids",
]

# Lead ids per statement: SQLite's IN lists stay well under its parameter limit.
_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class ErasedLead:
    lead_id: str
    category: str
    portal: str


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _ids_clause(conn: Connection) -> str:
    return "lead_id = ANY(:ids)" if conn.dialect.name == "postgresql" else "lead_id IN :ids"


def _bind_ids(conn: Connection, statement: TextClause) -> TextClause:
    if conn.dialect.name == "postgresql":
        return statement
    return statement.bindparams(bindparam("ids", expanding=True))


def _column_type(conn: Connection, name: str) -> str:
    return str(leads.c[name].type.compile(dialect=conn.dialect))


def _payload_update(conn: Connection, fields: Sequence[str]) -> str:
    """SQL of the new payload: contactRequest's `fields` null, its phoneNumbers []."""
    if conn.dialect.name == "postgresql":
        # jsonb operators; cast back to the column's type (jsonb or json).
        return (
            "CAST(jsonb_set(CAST(payload AS jsonb), '{contactRequest}', "
            "COALESCE(CAST(payload AS jsonb) -> 'contactRequest', '{}'::jsonb) "
            f"|| CAST(:erased_contact AS jsonb)) AS {_column_type(conn, 'payload')})"
        )
    paths = "".join(f", '$.contactRequest.{name}', NULL" for name in fields)
    return f"json_set(payload{paths}, '$.contactRequest.phoneNumbers', json('[]'))"


def _erased_contact(fields: Sequence[str]) -> str:
    return json.dumps({**dict.fromkeys(fields), "phoneNumbers": []})


@dataclass(frozen=True, slots=True)
class RowErasure:
    erased: list[ErasedLead]  # erased by this call
    busy: list[str]  # not erased: another transaction holds the row (PostgreSQL); retry later


def erase_lead_rows(
    conn: Connection, lead_ids: Sequence[str], fields: Sequence[str], now: datetime
) -> RowErasure:
    """Erase those of `lead_ids` not erased yet (an erased lead is left as it is) and drop
    their subject hashes: an erased lead no longer belongs to anyone.

    On PostgreSQL the rows are locked in lead id order and a row another transaction holds
    (an import writing it, another erasure) is skipped, never waited for: no deadlock, no
    erasure stuck behind a long import. Those are returned as `busy`.
    """
    columns = [FIELD_COLUMNS[name] for name in fields if name in FIELD_COLUMNS]
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        no_phones = f"CAST('[]' AS {_column_type(conn, 'phone_numbers')})"
        target = (
            "lead_id IN (SELECT lead_id FROM leads WHERE lead_id = ANY(:ids) "
            "AND erased_at IS NULL ORDER BY lead_id FOR UPDATE SKIP LOCKED)"
        )
    else:
        no_phones = "'[]'"  # JSON text; a CAST to JSON would take NUMERIC affinity and give 0
        target = "lead_id IN :ids AND erased_at IS NULL"
    assignments = [f"{column} = NULL" for column in columns] + [
        f"phone_numbers = {no_phones}",
        f"payload = {_payload_update(conn, fields)}",
        "erased_at = :now",
        "updated_at = :now",
    ]
    statement = _bind_ids(
        conn,
        text(
            f"UPDATE leads SET {', '.join(assignments)} WHERE {target} "
            "RETURNING lead_id, category, portal"
        ).bindparams(bindparam("now", type_=UTCDateTime())),
    )
    erased: list[ErasedLead] = []
    params: dict[str, Any] = {"now": now}
    if postgres:
        params["erased_contact"] = _erased_contact(fields)
    for chunk in _chunks(lead_ids):
        rows = conn.execute(statement, {**params, "ids": list(chunk)})
        erased.extend(ErasedLead(*row) for row in rows)
    delete_lead_subjects(conn, [lead.lead_id for lead in erased])
    busy: list[str] = []
    if postgres and len(erased) < len(lead_ids):
        done = {lead.lead_id for lead in erased}
        busy = sorted(unerased_lead_ids(conn, [i for i in lead_ids if i not in done]))
    return RowErasure(erased, busy)


def _verification_sql(conn: Connection, fields: Sequence[str]) -> str:
    """SELECT of the lead ids, among :ids, that still hold a value of the policy's fields in
    a column or in payload.contactRequest, a phone number, or are not marked erased. Each
    row's JSON is parsed once (one jsonb cast in a materialized CTE; one multi-path
    json_extract on SQLite), not once per field."""
    columns = [FIELD_COLUMNS[name] for name in fields if name in FIELD_COLUMNS]
    found = ["erased_at IS NULL", *(f"{column} IS NOT NULL" for column in columns)]
    if conn.dialect.name == "postgresql":
        found += [
            f"COALESCE(jsonb_typeof(contact -> '{name}'), 'null') <> 'null'" for name in fields
        ]
        found += [
            "CAST(phone_numbers AS jsonb) <> '[]'::jsonb",
            "COALESCE(contact -> 'phoneNumbers', '[]'::jsonb) <> '[]'::jsonb",
        ]
        return (
            "WITH rows AS MATERIALIZED (SELECT lead_id, erased_at, phone_numbers, "
            + "".join(f"{column}, " for column in columns)
            + "CAST(payload AS jsonb) -> 'contactRequest' AS contact FROM leads "
            f"WHERE {_ids_clause(conn)}) SELECT lead_id FROM rows WHERE {' OR '.join(found)}"
        )
    # One parse: the values of every policy path and of phoneNumbers, as one JSON array.
    paths = ", ".join(f"'$.contactRequest.{name}'" for name in (*fields, "phoneNumbers"))
    nulls = ",".join("null" for _ in fields)
    found += [
        "json(phone_numbers) <> '[]'",
        f"json_extract(payload, {paths}) NOT IN ('[{nulls},[]]', '[{nulls},null]')",
    ]
    return f"SELECT lead_id FROM leads WHERE {_ids_clause(conn)} AND ({' OR '.join(found)})"


def leads_keeping_values(
    conn: Connection, lead_ids: Sequence[str], fields: Sequence[str]
) -> list[str]:
    """Verification, by reading the rows back: those of `lead_ids` that still hold a value of
    a policy field (column or payload) or a phone number, or are not marked erased."""
    statement = _bind_ids(conn, text(_verification_sql(conn, fields)))
    left: list[str] = []
    for chunk in _chunks(lead_ids):
        left.extend(conn.scalars(statement, {"ids": list(chunk)}))
    return left


def fields_with_values(
    conn: Connection, lead_ids: Sequence[str], fields: Sequence[str]
) -> dict[str, list[str]]:
    """For a dry run: for each of `lead_ids` not erased yet, the names of the policy fields
    (and phoneNumbers) that hold a value now, in a column or in the payload. Values are
    looked at here and never leave this function."""
    columns = {name: FIELD_COLUMNS[name] for name in fields if name in FIELD_COLUMNS}
    selected = [leads.c.lead_id, leads.c.phone_numbers, leads.c.payload] + [
        leads.c[column] for column in columns.values()
    ]
    found: dict[str, list[str]] = {}
    for chunk in _chunks(list(lead_ids)):
        rows = conn.execute(
            leads.select()
            .with_only_columns(*selected)
            .where(ids_condition(conn, leads.c.lead_id, chunk), leads.c.erased_at.is_(None))
            .order_by(leads.c.lead_id)
        )
        for row in rows:
            lead_id, phones, payload, *values = row
            contact = payload.get("contactRequest") if isinstance(payload, dict) else None
            contact = contact if isinstance(contact, dict) else {}
            column_values = dict(zip(columns, values, strict=False))
            changed = [
                name
                for name in fields
                if column_values.get(name) is not None or contact.get(name) is not None
            ]
            if phones or contact.get("phoneNumbers"):
                changed.append("phoneNumbers")
            found[lead_id] = changed
    return found


def unerased_lead_ids(conn: Connection, lead_ids: Collection[str]) -> set[str]:
    """Those of `lead_ids` in the store and not erased."""
    found: set[str] = set()
    ids = list(lead_ids)
    for chunk in _chunks(ids):
        rows = conn.execute(
            leads.select()
            .with_only_columns(leads.c.lead_id)
            .where(ids_condition(conn, leads.c.lead_id, chunk), leads.c.erased_at.is_(None))
        )
        found.update(row[0] for row in rows)
    return found


def held_lead_ids(conn: Connection, lead_ids: Collection[str], now: datetime) -> set[str]:
    """Those of `lead_ids` under an active legal hold, directly or through a subject."""
    held: set[str] = set()
    ids = list(lead_ids)
    for chunk in _chunks(ids):
        direct = (
            legal_holds.select()
            .with_only_columns(legal_holds.c.lead_id)
            .where(ids_condition(conn, legal_holds.c.lead_id, chunk), active_condition(now))
        )
        by_subject = (
            lead_subjects.select()
            .with_only_columns(lead_subjects.c.lead_id)
            .join_from(
                lead_subjects,
                legal_holds,
                legal_holds.c.subject_hash == lead_subjects.c.subject_hash,
            )
            .where(ids_condition(conn, lead_subjects.c.lead_id, chunk), active_condition(now))
        )
        held.update(row[0] for row in conn.execute(union(direct, by_subject)))
    return held


def subject_lead_ids(
    conn: Connection, subjects: Sequence[tuple[str, bytes, int]]
) -> dict[str, int]:
    """The leads (not erased: an erased lead has no subject hashes) of `subjects`, given as
    (kind, hash, request id), each with the oldest of its subjects' requests."""
    by_subject: dict[tuple[str, bytes], int] = {}
    for kind, digest, request_id in subjects:
        key = (kind, digest)
        by_subject[key] = min(request_id, by_subject.get(key, request_id))
    found: dict[str, int] = {}
    hashes = sorted({digest for _, digest in by_subject})
    for start in range(0, len(hashes), 1000):
        rows = conn.execute(
            select(
                lead_subjects.c.lead_id, lead_subjects.c.kind, lead_subjects.c.subject_hash
            ).where(lead_subjects.c.subject_hash.in_(hashes[start : start + 1000]))
        ).all()
        for lead_id, kind, digest in rows:
            match = by_subject.get((kind, bytes(digest)))
            if match is not None:
                found[lead_id] = min(match, found.get(lead_id, match))
    return found

"""What an erasure looks up: a subject's leads, held leads, leads not erased yet, and (for a
dry run) which fields hold a value. The same SQL on both dialects; the erasing UPDATE itself,
which differs, is in storage/lead_eraser.py."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select, union

from retention.domain.erasure import ErasedFields
from retention.storage.dialect import chunks, ids_condition
from retention.storage.holds import active_condition
from retention.storage.requests import RequestRow
from retention.storage.schema import lead_subjects, leads, legal_holds

__all__ = [
    "ErasedLead",
    "RequestLeads",
    "RowErasure",
    "fields_with_values",
    "held_lead_ids",
    "request_lead_ids",
    "subject_lead_ids",
    "unerased_lead_ids",
]


@dataclass(frozen=True, slots=True)
class ErasedLead:
    lead_id: str
    category: str
    portal: str


@dataclass(frozen=True, slots=True)
class RowErasure:
    erased: list[ErasedLead]  # erased by this call
    busy: list[str]  # not erased: another transaction holds the row (PostgreSQL); retry later


def fields_with_values(
    conn: Connection, lead_ids: Sequence[str], fields: ErasedFields
) -> dict[str, list[str]]:
    """For a dry run: for each of `lead_ids` not erased yet, the names of the policy fields
    (and phoneNumbers) that hold a value now, in a column or in the payload. Values are
    looked at here and never leave this function."""
    columns = dict(fields.columns)
    selected = [leads.c.lead_id, leads.c.phone_numbers, leads.c.payload] + [
        leads.c[column] for column in columns.values()
    ]
    found: dict[str, list[str]] = {}
    for chunk in chunks(lead_ids):
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
                for name in fields.names
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
    for chunk in chunks(ids):
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
    for chunk in chunks(ids):
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
    for chunk in chunks(hashes, 1000):
        rows = conn.execute(
            select(
                lead_subjects.c.lead_id, lead_subjects.c.kind, lead_subjects.c.subject_hash
            ).where(lead_subjects.c.subject_hash.in_(chunk))
        ).all()
        for lead_id, kind, digest in rows:
            match = by_subject.get((kind, bytes(digest)))
            if match is not None:
                found[lead_id] = min(match, found.get(lead_id, match))
    return found


@dataclass(frozen=True, slots=True)
class RequestLeads:
    # For each request, the leads of its subject not erased yet, in lead id order.
    leads: dict[int, list[str]]
    # For each lead-id request, the email and phone subjects (kind, hash) of that lead.
    subjects: dict[int, set[tuple[str, bytes]]]


def _leads_of_subjects(conn: Connection, hashes: Collection[bytes]) -> list[tuple[str, bytes, str]]:
    """(kind, hash, lead id) of the not-erased leads carrying any of `hashes`."""
    ordered = sorted(hashes)
    found: list[tuple[str, bytes, str]] = []
    for chunk in chunks(ordered, 1000):
        rows = conn.execute(
            select(lead_subjects.c.kind, lead_subjects.c.subject_hash, lead_subjects.c.lead_id)
            .where(lead_subjects.c.subject_hash.in_(chunk))
            .order_by(lead_subjects.c.lead_id)
        ).all()
        found.extend((kind, bytes(digest), lead_id) for kind, digest, lead_id in rows)
    return found


def request_lead_ids(conn: Connection, requests: Sequence[RequestRow]) -> RequestLeads:
    """The leads of each request's subject: through the subject hashes for an email or a
    phone; for a lead id, the lead and every lead sharing its email or a phone number (the
    seeker behind the lead)."""
    found: dict[int, list[str]] = {request.id: [] for request in requests}
    by_subject: dict[tuple[str, bytes], list[int]] = {}
    for request in requests:
        if request.kind != "lead_id":
            key = (request.kind, bytes(request.subject_hash))
            by_subject.setdefault(key, []).append(request.id)
    derived: dict[int, set[tuple[str, bytes]]] = {}
    by_lead = {r.subject: r.id for r in requests if r.kind == "lead_id" and r.subject}
    if by_lead:
        present = conn.scalars(
            select(leads.c.lead_id).where(
                ids_condition(conn, leads.c.lead_id, list(by_lead)), leads.c.erased_at.is_(None)
            )
        ).all()
        for lead_id in present:
            found[by_lead[lead_id]].append(lead_id)
        subject_rows = conn.execute(
            select(lead_subjects.c.lead_id, lead_subjects.c.kind, lead_subjects.c.subject_hash)
            .where(ids_condition(conn, lead_subjects.c.lead_id, list(present)))
        ).all() if present else []  # fmt: skip
        for lead_id, kind, digest in subject_rows:
            request_id = by_lead[lead_id]
            derived.setdefault(request_id, set()).add((kind, bytes(digest)))
            by_subject.setdefault((kind, bytes(digest)), []).append(request_id)
    for kind, digest, lead_id in _leads_of_subjects(conn, {d for _, d in by_subject}):
        for request_id in by_subject.get((kind, digest), ()):
            if lead_id not in found[request_id]:
                found[request_id].append(lead_id)
    return RequestLeads(found, derived)

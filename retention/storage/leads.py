"""Reading and writing lead rows and their subject hashes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from retention.domain.lead import Lead
from retention.storage.dialect import insert_for
from retention.storage.schema import lead_subjects, leads

__all__ = [
    "LeadCounts",
    "count_leads",
    "existing_lead_ids",
    "replace_lead_subjects",
    "upsert_leads",
]

# Columns an upsert rewrites; imported_at keeps the first import's time.
_UPDATED_COLUMNS = (
    "category", "portal", "ingestion_date", "ttl", "first_name", "last_name", "name", "gender",
    "email", "language", "message", "is_owner", "phone_numbers", "payload", "updated_at",
)  # fmt: skip
# Bound parameters per statement stay well under SQLite's limit (32766).
_IN_CHUNK = 5000


@dataclass(frozen=True, slots=True)
class LeadCounts:
    total: int
    erased: int
    by_category: tuple[tuple[str, int], ...]
    by_portal: tuple[tuple[str, int], ...]
    oldest_ingestion: datetime | None
    next_ttl: datetime | None


def _lead_row(lead: Lead, now: datetime) -> dict[str, Any]:
    return {
        "lead_id": lead.lead_id,
        "category": lead.category,
        "portal": lead.portal,
        "ingestion_date": lead.ingestion_date,
        "ttl": lead.ttl,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "name": lead.name,
        "gender": lead.gender,
        "email": lead.email,
        "language": lead.language,
        "message": lead.message,
        "is_owner": lead.is_owner,
        "phone_numbers": [
            {"type": p.type, "number": p.number, "verified": p.verified} for p in lead.phone_numbers
        ],
        "payload": lead.payload,
        "imported_at": now,
        "updated_at": now,
        "erased_at": None,
    }


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def existing_lead_ids(conn: Connection, lead_ids: Collection[str]) -> dict[str, bool]:
    """Those of `lead_ids` already in the store, each mapped to whether it is erased."""
    found: dict[str, bool] = {}
    for chunk in _chunks(list(lead_ids), _IN_CHUNK):
        rows = conn.execute(
            select(leads.c.lead_id, leads.c.erased_at.is_not(None)).where(
                leads.c.lead_id.in_(chunk)
            )
        )
        found.update((lead_id, bool(erased)) for lead_id, erased in rows)
    return found


def upsert_leads(conn: Connection, batch: Sequence[Lead], *, now: datetime) -> None:
    """Insert the leads, or rewrite the stored ones with the same lead id.

    A stored lead that was erased is never rewritten: its contact data stays erased.
    """
    if not batch:
        return
    statement = insert_for(conn, leads)
    statement = statement.on_conflict_do_update(
        index_elements=[leads.c.lead_id],
        set_={name: statement.excluded[name] for name in _UPDATED_COLUMNS},
        where=leads.c.erased_at.is_(None),
    )
    conn.execute(statement, [_lead_row(lead, now) for lead in batch])


def replace_lead_subjects(
    conn: Connection,
    lead_ids: Collection[str],
    subjects: Sequence[tuple[str, str, bytes]],
) -> None:
    """Make `subjects` ((lead_id, kind, hash) rows) the only subject hashes of `lead_ids`.

    Call it after upserting the leads: the upsert's row locks serialize concurrent imports of
    the same lead, so their delete-then-insert pairs cannot interleave.
    """
    for chunk in _chunks(list(lead_ids), _IN_CHUNK):
        conn.execute(delete(lead_subjects).where(lead_subjects.c.lead_id.in_(chunk)))
    if subjects:
        conn.execute(
            insert(lead_subjects),
            [
                {"lead_id": lead_id, "kind": kind, "subject_hash": h}
                for lead_id, kind, h in subjects
            ],
        )


def count_leads(conn: Connection) -> LeadCounts:
    """What the store holds, for summaries; no personal data."""
    total, erased, oldest, next_ttl = conn.execute(
        select(
            func.count(),
            func.count(leads.c.erased_at),
            func.min(leads.c.ingestion_date),
            func.min(leads.c.ttl),
        )
    ).one()
    by_category = conn.execute(
        select(leads.c.category, func.count()).group_by(leads.c.category).order_by(leads.c.category)
    ).all()
    by_portal = conn.execute(
        select(leads.c.portal, func.count()).group_by(leads.c.portal).order_by(leads.c.portal)
    ).all()
    return LeadCounts(
        total=total,
        erased=erased,
        by_category=tuple((str(c), int(n)) for c, n in by_category),
        by_portal=tuple((str(p), int(n)) for p, n in by_portal),
        oldest_ingestion=oldest,
        next_ttl=next_ttl,
    )

"""Reading and writing lead rows and their subject hashes."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, func, select

from retention.storage.dialect import chunks, ids_condition
from retention.storage.schema import lead_subjects, leads

__all__ = [
    "LeadCounts",
    "count_leads",
    "delete_lead_subjects",
    "existing_lead_ids",
    "lead_has_contact",
    "lead_portal",
    "surviving_lead_ids",
]


@dataclass(frozen=True, slots=True)
class LeadCounts:
    total: int
    erased: int
    by_category: tuple[tuple[str, int], ...]
    by_portal: tuple[tuple[str, int], ...]
    oldest_ingestion: datetime | None
    next_ttl: datetime | None


def existing_lead_ids(conn: Connection, lead_ids: Collection[str]) -> dict[str, bool]:
    """Those of `lead_ids` already in the store, each mapped to whether it is erased."""
    found: dict[str, bool] = {}
    for chunk in chunks(list(lead_ids)):
        rows = conn.execute(
            select(leads.c.lead_id, leads.c.erased_at.is_not(None)).where(
                leads.c.lead_id.in_(chunk)
            )
        )
        found.update((lead_id, bool(erased)) for lead_id, erased in rows)
    return found


def lead_has_contact(conn: Connection, lead_id: str) -> bool | None:
    """Whether the lead still holds contact data (not erased), None when it is not stored."""
    erased = conn.execute(select(leads.c.erased_at).where(leads.c.lead_id == lead_id)).first()
    return None if erased is None else erased.erased_at is None


def delete_lead_subjects(conn: Connection, lead_ids: Collection[str]) -> None:
    """Drop the subject hashes of `lead_ids` (before writing their new ones)."""
    for chunk in chunks(list(lead_ids)):
        conn.execute(
            delete(lead_subjects).where(ids_condition(conn, lead_subjects.c.lead_id, chunk))
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


def surviving_lead_ids(conn: Connection, *, limit: int) -> list[str]:
    """The first `limit` lead ids not erased, in id order."""
    return list(
        conn.scalars(
            select(leads.c.lead_id)
            .where(leads.c.erased_at.is_(None))
            .order_by(leads.c.lead_id)
            .limit(limit)
        )
    )


def lead_portal(conn: Connection, lead_id: str) -> str | None:
    """The portal code of a stored lead."""
    portal: str | None = conn.scalar(select(leads.c.portal).where(leads.c.lead_id == lead_id))
    return portal

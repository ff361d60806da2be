"""Finding and deleting the leads the retention policy says are due.

Each rule is walked on its own index in key order (keyset pagination), so a batch never
re-reads what earlier batches deleted or skipped:
- `ttl`:     ttl <= now, on (ttl, lead_id);
- `ceiling`: ingestion_date <= cutoff and ttl > now, on (ingestion_date, lead_id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, false, func, select, tuple_

from retention.storage.dialect import ids_condition, supports_skip_locked
from retention.storage.holds import hold_condition
from retention.storage.schema import leads

__all__ = ["DueCounts", "DueLead", "count_due", "delete_leads", "select_due_batch"]

RULES = ("ttl", "ceiling")


@dataclass(frozen=True, slots=True)
class DueLead:
    lead_id: str
    portal: str
    category: str
    held: bool
    key: tuple[datetime, str]  # position on the rule's index, for the next batch


@dataclass(frozen=True, slots=True)
class DueCounts:
    total: int
    ttl: int
    ceiling: int
    held: int
    newest_ingestion: datetime | None

    @property
    def due(self) -> int:
        return self.ttl + self.ceiling


def _rule(rule: str, now: datetime, cutoff: datetime) -> tuple[ColumnElement[bool], Any]:
    """(condition, index column) of a rule."""
    if rule == "ttl":
        return leads.c.ttl <= now, leads.c.ttl
    return (leads.c.ingestion_date <= cutoff) & (leads.c.ttl > now), leads.c.ingestion_date


def count_due(conn: Connection, *, now: datetime, cutoff: datetime, holds: bool) -> DueCounts:
    """How many leads each rule makes due, how many of those are held, and the store's size."""
    ttl_rule, _ = _rule("ttl", now, cutoff)
    ceiling_rule, _ = _rule("ceiling", now, cutoff)
    total, newest = conn.execute(select(func.count(), func.max(leads.c.ingestion_date))).one()
    by_ttl = conn.scalar(select(func.count()).where(ttl_rule)) or 0
    by_ceiling = conn.scalar(select(func.count()).where(ceiling_rule)) or 0
    held = 0
    if holds:
        held = (
            conn.scalar(
                select(func.count()).where(
                    ttl_rule | ceiling_rule, hold_condition(leads.c.lead_id, now)
                )
            )
            or 0
        )
    return DueCounts(int(total), int(by_ttl), int(by_ceiling), int(held), newest)


def select_due_batch(
    conn: Connection,
    *,
    rule: str,
    now: datetime,
    cutoff: datetime,
    after: tuple[datetime, str] | None,
    limit: int,
    holds: bool,
    lock: bool = True,
) -> list[DueLead]:
    """The next `limit` leads due under `rule` after index position `after`; with `lock`,
    locked for this transaction, and on PostgreSQL rows another worker has locked are skipped
    (SKIP LOCKED). `holds`: whether any hold is active at all (if not, none is looked up)."""
    condition, index_column = _rule(rule, now, cutoff)
    held = hold_condition(leads.c.lead_id, now) if holds else false()
    statement = (
        select(leads.c.lead_id, leads.c.portal, leads.c.category, held, index_column)
        .where(condition)
        .order_by(index_column, leads.c.lead_id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(tuple_(index_column, leads.c.lead_id) > tuple_(*after))
    if lock and supports_skip_locked(conn):
        statement = statement.with_for_update(skip_locked=True, of=leads)
    return [
        DueLead(lead_id, portal, category, bool(is_held), (position, lead_id))
        for lead_id, portal, category, is_held, position in conn.execute(statement)
    ]


def delete_leads(conn: Connection, lead_ids: Sequence[str]) -> int:
    """Hard-delete the leads; their subject hashes go with them (ON DELETE CASCADE)."""
    if not lead_ids:
        return 0
    result = conn.execute(delete(leads).where(ids_condition(conn, leads.c.lead_id, lead_ids)))
    return result.rowcount

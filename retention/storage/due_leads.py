"""Finding and deleting the leads the retention policy says are due.

A purge walks the due leads in batches, each after the position where the last one ended
(keyset pagination), so a batch never re-reads what earlier batches deleted or skipped. Two
kinds of walk:
- by rule, when few leads are due (a daily run): `ttl` walks (ttl, lead_id) over ttl <= now,
  `ceiling` walks (ingestion_date, lead_id) over ingestion_date <= cutoff and ttl > now; the
  index finds the due leads without reading the others;
- in storage order, when many are due (a first run over an old store): one walk over every
  due lead after the physical row address (PostgreSQL ctid, SQLite rowid) where the last
  batch ended, the order a set-based DELETE takes. Each batch then changes a contiguous run
  of table pages instead of pages all over the table. It has no ORDER BY (PostgreSQL would
  sort every remaining row for every batch): the scans it gets (TID range, rowid) return rows
  in storage order, and row locking rules out parallel plans. Whatever it might still miss,
  the rule walks that always follow it find (see purge).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, false, func, literal, select, tuple_

from retention.domain.policy import Cutoffs
from retention.storage.dialect import (
    ids_condition,
    row_locator,
    row_locator_after,
    supports_skip_locked,
)
from retention.storage.holds import hold_condition
from retention.storage.schema import leads

__all__ = [
    "DueCounts",
    "DueLead",
    "Walk",
    "count_due",
    "count_due_capped",
    "delete_due_batch",
    "delete_leads",
    "due_condition",
    "has_due_leads",
    "oldest_due",
    "select_due_batch",
    "store_size",
    "walks",
]


@dataclass(frozen=True, slots=True)
class Walk:
    """Which due leads, in which order: an index's columns (lead_id last), or none for the
    storage order."""

    name: str
    condition: ColumnElement[bool]
    order: tuple[Any, ...]
    cutoffs: Cutoffs


@dataclass(frozen=True, slots=True)
class DueLead:
    lead_id: str
    portal: str
    category: str
    rule: str
    held: bool
    key: tuple[Any, ...]  # position in the walk's order, for the next batch


@dataclass(frozen=True, slots=True)
class DueCounts:
    total: int | None  # the store's size, when it was counted (store_size)
    ttl: int  # due under each rule, held leads included
    ceiling: int
    held_ttl: int  # of those, held
    held_ceiling: int

    @property
    def due(self) -> int:
        return self.ttl + self.ceiling

    @property
    def held(self) -> int:
        return self.held_ttl + self.held_ceiling


def due_condition(cutoffs: Cutoffs, rule: str) -> ColumnElement[bool]:
    """The SQL of the domain's rule (policy.Cutoffs.rule_of) for `rule`: the leads it makes
    due, each under one rule only (a lead due by its TTL is not counted under the ceiling)."""
    if rule == "ttl":
        return leads.c.ttl <= cutoffs.ttl
    if rule == "ceiling":
        return (leads.c.ingestion_date <= cutoffs.ceiling) & (leads.c.ttl > cutoffs.ttl)
    raise ValueError(f"unknown rule {rule!r}")


def walks(cutoffs: Cutoffs, *, in_storage_order: bool) -> list[Walk]:
    """The walks of a run: the rule walks, after a storage-order walk when asked for."""
    ttl_rule, ceiling_rule = due_condition(cutoffs, "ttl"), due_condition(cutoffs, "ceiling")
    by_rule = [
        Walk("ttl", ttl_rule, (leads.c.ttl, leads.c.lead_id), cutoffs),
        Walk("ceiling", ceiling_rule, (leads.c.ingestion_date, leads.c.lead_id), cutoffs),
    ]
    if in_storage_order:
        return [Walk("storage", ttl_rule | ceiling_rule, (), cutoffs), *by_rule]
    return by_rule


def count_due(conn: Connection, *, cutoffs: Cutoffs, holds: bool) -> DueCounts:
    """How many leads each rule makes due and how many of those are held: index range scans
    as long as they are (the store's size is counted apart, store_size, only when needed)."""
    ttl_rule, ceiling_rule = due_condition(cutoffs, "ttl"), due_condition(cutoffs, "ceiling")
    now = cutoffs.ttl
    by_ttl = conn.scalar(select(func.count()).where(ttl_rule)) or 0
    by_ceiling = conn.scalar(select(func.count()).where(ceiling_rule)) or 0
    held_ttl = held_ceiling = 0
    if holds:
        held = hold_condition(leads.c.lead_id, now)
        held_ttl = conn.scalar(select(func.count()).where(ttl_rule, held)) or 0
        held_ceiling = conn.scalar(select(func.count()).where(ceiling_rule, held)) or 0
    return DueCounts(None, int(by_ttl), int(by_ceiling), int(held_ttl), int(held_ceiling))


def count_due_capped(
    conn: Connection, *, cutoffs: Cutoffs, holds: bool, cap: int
) -> dict[str, int]:
    """How many leads each rule makes due, and how many of those are held (`held`), each
    counted up to `cap`: range scans that stop there."""
    counts: dict[str, int] = {"held": 0}
    for rule in ("ttl", "ceiling"):
        condition = due_condition(cutoffs, rule)
        counts[rule] = _count_upto(conn, condition, cap)
        if holds:
            held = condition & hold_condition(leads.c.lead_id, cutoffs.ttl)
            counts["held"] += _count_upto(conn, held, cap)
    return counts


def _count_upto(conn: Connection, condition: ColumnElement[bool], cap: int) -> int:
    found = select(leads.c.lead_id).where(condition).limit(cap).subquery()
    return int(conn.scalar(select(func.count()).select_from(found)) or 0)


def oldest_due(conn: Connection, *, cutoffs: Cutoffs, holds: bool) -> datetime | None:
    """When the lead due longest (and not held) became due: the smallest TTL among the leads
    due by it, the ceiling reached by the oldest among those due by the ceiling. One index
    probe each (ordered by ttl, by ingestion date)."""
    since: list[datetime] = []
    for rule, column in (("ttl", leads.c.ttl), ("ceiling", leads.c.ingestion_date)):
        condition = due_condition(cutoffs, rule)
        if holds:
            condition = condition & ~hold_condition(leads.c.lead_id, cutoffs.ttl)
        oldest = conn.scalar(select(column).where(condition).order_by(column).limit(1))
        if oldest is not None:
            since.append(oldest if rule == "ttl" else cutoffs.ceiling_reached(oldest))
    return min(since, default=None)


def store_size(conn: Connection) -> int:
    """How many leads the store holds: a scan of the whole table (or its smallest index)."""
    return int(conn.scalar(select(func.count()).select_from(leads)) or 0)


def has_due_leads(conn: Connection, *, cutoffs: Cutoffs, holds: bool) -> bool:
    """Whether any lead not held is due: one index probe per rule (the ttl rule first, so
    that the ceiling's probe meets only leads whose TTL is in the future)."""
    for rule in ("ttl", "ceiling"):
        condition = due_condition(cutoffs, rule)
        if holds:
            condition = condition & ~hold_condition(leads.c.lead_id, cutoffs.ttl)
        if conn.scalar(select(leads.c.lead_id).where(condition).limit(1)) is not None:
            return True
    return False


def _rule_of(ttl: datetime, cutoffs: Cutoffs) -> str:
    """The rule of a lead a due walk returned: ttl first, as Cutoffs.rule_of decides."""
    return "ttl" if ttl <= cutoffs.ttl else "ceiling"


def _position(conn: Connection, walk: Walk) -> tuple[Any, ...]:
    """The columns that give a lead's position in the walk."""
    return walk.order or (row_locator(conn),)


def _after(
    conn: Connection, walk: Walk, after: tuple[Any, ...] | None
) -> ColumnElement[bool] | None:
    if after is None:
        return None
    if not walk.order:
        return row_locator_after(conn, after[0])
    # Bound with the columns' own types (UTCDateTime's naive UTC text on SQLite), not types
    # guessed from the Python values.
    bound = [
        literal(value, type_=column.type) for column, value in zip(walk.order, after, strict=True)
    ]
    return tuple_(*walk.order) > tuple_(*bound)


def select_due_batch(
    conn: Connection,
    walk: Walk,
    *,
    now: datetime,
    after: tuple[Any, ...] | None,
    limit: int,
    holds: bool,
    lock: bool = True,
) -> list[DueLead]:
    """The next `limit` due leads of `walk` after position `after`; with `lock`, locked for
    this transaction, and on PostgreSQL rows another worker has locked are skipped (SKIP
    LOCKED). `holds`: whether any hold is active at all (if not, none is looked up)."""
    held = hold_condition(leads.c.lead_id, now) if holds else false()
    statement = (
        select(
            leads.c.lead_id, leads.c.portal, leads.c.category, leads.c.ttl, held,
            *_position(conn, walk),
        )
        .where(walk.condition)
        .order_by(*walk.order)
        .limit(limit)
    )  # fmt: skip
    if (position := _after(conn, walk, after)) is not None:
        statement = statement.where(position)
    if lock and supports_skip_locked(conn):
        statement = statement.with_for_update(skip_locked=True, of=leads)
    batch = [
        DueLead(
            row[0], row[1], row[2], _rule_of(row[3], walk.cutoffs), bool(row[4]), tuple(row[5:])
        )
        for row in conn.execute(statement)
    ]
    batch.sort(key=lambda lead: _sort_key(lead.key))
    return batch


def delete_due_batch(
    conn: Connection,
    walk: Walk,
    *,
    now: datetime,
    after: tuple[Any, ...] | None,
    limit: int,
    skip_locked: bool,
) -> list[DueLead]:
    """Delete the next `limit` due leads of `walk` in one statement and return them, in walk
    order; for a store with no active hold. With `skip_locked` (several purge workers),
    rows are locked first and those another worker holds are skipped; a lone run does not pay
    for locking every row twice."""
    locator = row_locator(conn)
    chosen = select(locator).where(walk.condition).order_by(*walk.order).limit(limit)
    if (position := _after(conn, walk, after)) is not None:
        chosen = chosen.where(position)
    if skip_locked and supports_skip_locked(conn):
        chosen = chosen.with_for_update(skip_locked=True)
    statement = (
        delete(leads)
        .where(locator.in_(chosen.scalar_subquery()))
        .returning(
            leads.c.lead_id,
            leads.c.portal,
            leads.c.category,
            leads.c.ttl,
            *_position(conn, walk),
        )
    )
    batch = [
        DueLead(row[0], row[1], row[2], _rule_of(row[3], walk.cutoffs), False, tuple(row[4:]))
        for row in conn.execute(statement)
    ]
    batch.sort(key=lambda lead: _sort_key(lead.key))
    return batch


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Order positions as the database does: a PostgreSQL ctid comes back as text '(page,n)'."""
    if len(key) == 1 and isinstance(key[0], str) and key[0].startswith("("):
        page, item = key[0][1:-1].split(",")
        return (int(page), int(item))
    return key


def delete_leads(conn: Connection, lead_ids: Sequence[str]) -> int:
    """Hard-delete the leads; their subject hashes go with them (ON DELETE CASCADE)."""
    if not lead_ids:
        return 0
    result = conn.execute(delete(leads).where(ids_condition(conn, leads.c.lead_id, lead_ids)))
    return result.rowcount

"""Appending to and reading the audit trail."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select, update

from retention.domain.audit_chain import EventDraft, seal
from retention.storage.dialect import bulk_insert, insert_for
from retention.storage.schema import audit_counts, audit_events, audit_head

__all__ = [
    "ChainHead",
    "append_events",
    "count_events",
    "event_counts",
    "event_hashes",
    "insert_sealed_events",
    "iter_events",
    "read_head",
    "stored_draft",
]

_COLUMNS = (
    "id",
    "occurred_at", "action", "lead_id", "run_id", "request_id", "details", "prev_hash", "hash",
    "category", "portal", "rule", "reason",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The newest event of the chain (event_id None: the chain is empty)."""

    event_id: int | None
    hash: str

    def __str__(self) -> str:
        return f"{self.event_id or 0}:{self.hash}"


def event_hashes(conn: Connection, event_ids: Sequence[int]) -> dict[int, str]:
    """The stored hash of each of `event_ids` that exists."""
    rows = conn.execute(
        select(audit_events.c.id, audit_events.c.hash).where(audit_events.c.id.in_(event_ids))
    ).all()
    return {int(event_id): str(digest) for event_id, digest in rows}


def read_head(conn: Connection, *, lock: bool = False) -> ChainHead:
    """The recorded head; with `lock`, held until the transaction ends (PostgreSQL row lock;
    SQLite's write lock is already held by every writing transaction)."""
    statement = select(audit_head.c.event_id, audit_head.c.hash).where(audit_head.c.id == 1)
    if lock:
        statement = statement.with_for_update()
    event_id, digest = conn.execute(statement).one()
    return ChainHead(event_id, digest)


def append_events(conn: Connection, drafts: Sequence[EventDraft]) -> ChainHead:
    """Chain `drafts` after the head and insert them, in the caller's transaction.

    The head row stays locked until that transaction ends, so concurrent writers append one
    after the other; take it as late as possible in the transaction. Event ids are the chain
    positions head + 1, ...: a writer that raced past the lock would collide on the key.
    """
    head = read_head(conn, lock=True)
    if not drafts:
        return head
    sealed = list(seal(head.hash, drafts))
    first = (head.event_id or 0) + 1
    bulk_insert(
        conn,
        "audit_events",
        _COLUMNS,
        [
            (
                first + offset,
                event.draft.occurred_at,
                event.draft.action,
                event.draft.lead_id,
                event.draft.run_id,
                event.draft.request_id,
                event.draft.details,
                event.prev_hash,
                event.hash,
                event.draft.category,
                event.draft.portal,
                event.draft.rule,
                event.draft.reason,
            )
            for offset, event in enumerate(sealed)
        ],
    )
    new_head = ChainHead(first + len(sealed) - 1, sealed[-1].hash)
    conn.execute(
        update(audit_head)
        .where(audit_head.c.id == 1)
        .values(event_id=new_head.event_id, hash=new_head.hash)
    )
    count_events(conn, Counter(draft.action for draft in drafts))
    return new_head


def insert_sealed_events(
    conn: Connection, events: Sequence[tuple[int, EventDraft, str, str]]
) -> ChainHead:
    """Insert events sealed elsewhere, as (id, draft, prev_hash, hash) in id order, after the
    head and in the caller's transaction: replay puts back the events of the audit journal
    with their own ids and hashes. The caller has checked that they form a chain; ValueError
    when the first does not continue the head (another writer moved it)."""
    head = read_head(conn, lock=True)
    if not events:
        return head
    first_id, _, first_prev, _ = events[0]
    if first_id != (head.event_id or 0) + 1 or first_prev != head.hash:
        raise ValueError(f"event {first_id} does not continue the chain head {head}")
    bulk_insert(
        conn,
        "audit_events",
        _COLUMNS,
        [
            (
                event_id,
                draft.occurred_at,
                draft.action,
                draft.lead_id,
                draft.run_id,
                draft.request_id,
                draft.details,
                prev_hash,
                digest,
                draft.category,
                draft.portal,
                draft.rule,
                draft.reason,
            )
            for event_id, draft, prev_hash, digest in events
        ],
    )
    last_id, _, _, last_hash = events[-1]
    conn.execute(
        update(audit_head).where(audit_head.c.id == 1).values(event_id=last_id, hash=last_hash)
    )
    count_events(conn, Counter(draft.action for _, draft, _, _ in events))
    return ChainHead(last_id, last_hash)


def count_events(conn: Connection, added: Mapping[str, int]) -> None:
    """Add `added` (action -> events) to audit_counts, in the caller's transaction: the
    totals stay those of the chain without counting it."""
    if not added:
        return
    upsert = insert_for(conn, audit_counts)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[audit_counts.c.action],
            set_={"events": audit_counts.c.events + upsert.excluded.events},
        ),
        [{"action": action, "events": events} for action, events in sorted(added.items())],
    )


def event_counts(conn: Connection) -> dict[str, int]:
    """How many events of each action the chain holds."""
    rows = conn.execute(select(audit_counts.c.action, audit_counts.c.events)).all()
    return {str(action): int(events) for action, events in rows}


def iter_events(
    conn: Connection, *, after: int = 0, chunk: int = 10_000
) -> Iterator[tuple[int, EventDraft, str, str]]:
    """Every event after event `after` in id order as (id, draft, prev_hash, hash), read in
    keyset chunks."""
    last = after
    while True:
        rows = conn.execute(
            select(
                audit_events.c.id,
                audit_events.c.occurred_at,
                audit_events.c.action,
                audit_events.c.lead_id,
                audit_events.c.run_id,
                audit_events.c.request_id,
                audit_events.c.details,
                audit_events.c.prev_hash,
                audit_events.c.hash,
                audit_events.c.category,
                audit_events.c.portal,
                audit_events.c.rule,
                audit_events.c.reason,
            )
            .where(audit_events.c.id > last)
            .order_by(audit_events.c.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        for row in rows:
            yield row.id, stored_draft(row), row.prev_hash, row.hash
        last = rows[-1].id


def stored_draft(row: Any) -> EventDraft:
    """The draft of an audit_events row (what its hash covers, and its report columns)."""
    return EventDraft(
        occurred_at=row.occurred_at,
        action=row.action,
        details=row.details,
        lead_id=row.lead_id,
        run_id=row.run_id,
        request_id=row.request_id,
        category=row.category,
        portal=row.portal,
        rule=row.rule,
        reason=row.reason,
    )

"""What `requests show` reads about one erasure request: its audit events, the legal holds on
the leads it left held (read in one snapshot: storage/snapshot.py).

Every query goes through an index: the events by `request_id` (migration 0008), the holds by
lead id and by subject hash, a lead's subjects by the primary key of lead_subjects. A request
names few leads, so each answer is small; nothing here scans audit_events.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, select, union_all

from retention.domain.audit_chain import EventDraft
from retention.storage.audit import stored_draft
from retention.storage.dialect import chunks
from retention.storage.schema import audit_events, lead_subjects, legal_holds

__all__ = [
    "CoveringHold",
    "StoredEvent",
    "holds_covering",
    "request_events",
]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An audit event as stored: its draft (what its hash covers, with the report columns),
    its id and its place in the chain."""

    id: int
    draft: EventDraft
    prev_hash: str
    hash: str


def request_events(conn: Connection, request_id: int) -> list[StoredEvent]:
    """Every event naming `request_id`, in chain order (through its index)."""
    rows = conn.execute(
        select(audit_events)
        .where(audit_events.c.request_id == request_id)
        .order_by(audit_events.c.id)
    ).all()
    return [
        StoredEvent(
            int(row.id),
            stored_draft(row),
            str(row.prev_hash),
            str(row.hash),
        )
        for row in rows
    ]


@dataclass(frozen=True, slots=True)
class CoveringHold:
    """A hold that keeps `lead_id`: placed on that lead, on one of its subjects, or on the
    request's own subject (then `lead_id` is None: it covers every lead of the subject)."""

    lead_id: str | None
    hold_id: int
    hold_lead_id: str | None  # the hold's own lead (None: a subject hold)
    subject_kind: str | None
    reason: str
    created_at: datetime
    expires_at: datetime | None
    released_at: datetime | None


_HOLD_COLUMNS = (
    legal_holds.c.id,
    legal_holds.c.lead_id.label("hold_lead_id"),
    legal_holds.c.subject_kind,
    legal_holds.c.reason,
    legal_holds.c.created_at,
    legal_holds.c.expires_at,
    legal_holds.c.released_at,
)


def holds_covering(
    conn: Connection, lead_ids: Collection[str], subject: tuple[str, bytes] | None
) -> list[CoveringHold]:
    """Every hold, active or not, on one of `lead_ids`, on a subject one of them carries now
    (an erased lead carries none), or on `subject` (kind, keyed hash), by hold id."""
    found: list[CoveringHold] = []
    ids = sorted(lead_ids)
    for chunk in chunks(ids, 500):
        direct = select(legal_holds.c.lead_id.label("covered"), *_HOLD_COLUMNS).where(
            legal_holds.c.lead_id.in_(chunk)
        )
        by_subject = (
            select(lead_subjects.c.lead_id.label("covered"), *_HOLD_COLUMNS)
            .join_from(
                lead_subjects,
                legal_holds,
                and_(
                    legal_holds.c.subject_hash == lead_subjects.c.subject_hash,
                    legal_holds.c.subject_kind == lead_subjects.c.kind,
                ),
            )
            .where(lead_subjects.c.lead_id.in_(chunk))
        )
        found += [CoveringHold(*row) for row in conn.execute(union_all(direct, by_subject))]
    if subject is not None:
        kind, digest = subject
        rows = conn.execute(
            select(*_HOLD_COLUMNS).where(
                legal_holds.c.subject_hash == digest, legal_holds.c.subject_kind == kind
            )
        )
        found += [CoveringHold(None, *row) for row in rows]
    return sorted(found, key=lambda hold: (hold.hold_id, hold.lead_id or ""))

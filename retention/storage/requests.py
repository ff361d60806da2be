"""Erasure requests: the queue, each request's leads, and the suppression entries.

A request names its subject by kind and keyed hash; the clear identifier (normalized) is kept
only while the request is open, for a lead-id request to find its lead. A request's hash stays
after it completes: it is the suppression entry that erases the subject's leads imported later.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    func,
    insert,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)

from retention.storage.dialect import ids_condition, supports_skip_locked
from retention.storage.schema import erasure_requests, lead_subjects, leads

__all__ = [
    "OPEN_STATUSES",
    "RequestLeads",
    "RequestRow",
    "RequestUpdate",
    "add_leads_erased",
    "insert_request",
    "list_requests",
    "lock_open_requests",
    "open_requests_for",
    "recent_subject_requests",
    "request_lead_ids",
    "subject_request_count",
    "subject_requests",
    "suppressing_requests",
    "update_requests",
]

# Requests the erasure job takes up: new ones, those waiting for a hold, and failed ones
# (retried at every run until they succeed, so a failure keeps paging the operator).
OPEN_STATUSES = ("pending", "deferred", "failed")


@dataclass(frozen=True, slots=True)
class RequestRow:
    id: int
    kind: str
    subject_hash: bytes
    subject: str | None
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    status: str
    leads_erased: int
    source: str
    reference: str | None
    error: str | None

    @property
    def key(self) -> tuple[datetime, int]:
        """Queue order: oldest first."""
        return (self.received_at, self.id)


def _request_row(row: Any) -> RequestRow:
    return RequestRow(*row)


_COLUMNS = (
    erasure_requests.c.id,
    erasure_requests.c.kind,
    erasure_requests.c.subject_hash,
    erasure_requests.c.subject,
    erasure_requests.c.received_at,
    erasure_requests.c.due_at,
    erasure_requests.c.completed_at,
    erasure_requests.c.status,
    erasure_requests.c.leads_erased,
    erasure_requests.c.source,
    erasure_requests.c.reference,
    erasure_requests.c.error,
)


def insert_request(
    conn: Connection,
    *,
    kind: str,
    subject_hash: bytes,
    subject: str | None,
    received_at: datetime,
    due_at: datetime,
    source: str,
    reference: str | None,
    status: str = "pending",
    completed_at: datetime | None = None,
    leads_erased: int = 0,
) -> int:
    request_id = conn.execute(
        insert(erasure_requests)
        .values(
            kind=kind,
            subject_hash=subject_hash,
            subject=subject,
            received_at=received_at,
            due_at=due_at,
            source=source,
            reference=reference,
            status=status,
            completed_at=completed_at,
            leads_erased=leads_erased,
        )
        .returning(erasure_requests.c.id)
    ).scalar_one()
    return int(request_id)


def open_requests_for(
    conn: Connection,
    subjects: Collection[tuple[str, bytes]],
    *,
    statuses: Sequence[str] = OPEN_STATUSES,
) -> dict[tuple[str, bytes], int]:
    """The oldest request in `statuses` (by default an open one: pending, deferred or
    failed) of each of `subjects` (kind, hash) that has one."""
    found: dict[tuple[str, bytes], int] = {}
    items = list(subjects)
    for start in range(0, len(items), 500):
        chunk = items[start : start + 500]
        rows = conn.execute(
            select(erasure_requests.c.kind, erasure_requests.c.subject_hash, erasure_requests.c.id)
            .where(
                erasure_requests.c.status.in_(list(statuses)),
                or_(
                    *(
                        and_(
                            erasure_requests.c.kind == kind,
                            erasure_requests.c.subject_hash == digest,
                        )
                        for kind, digest in chunk
                    )
                ),
            )
            .order_by(erasure_requests.c.id.desc())
        )
        found.update(((kind, bytes(digest)), int(request_id)) for kind, digest, request_id in rows)
    return found


def lock_open_requests(
    conn: Connection,
    *,
    limit: int,
    after: tuple[datetime, int] | None = None,
    ids: Sequence[int] | None = None,
    skip_locked: bool = False,
    lock: bool = True,
) -> list[RequestRow]:
    """The next open requests in queue order after `after`, locked until the transaction
    ends (PostgreSQL row locks; SQLite's writing transactions are exclusive already)."""
    statement = (
        select(*_COLUMNS)
        .where(erasure_requests.c.status.in_(OPEN_STATUSES))
        .order_by(erasure_requests.c.received_at, erasure_requests.c.id)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(
            tuple_(erasure_requests.c.received_at, erasure_requests.c.id)
            > tuple_(bindparam("after_at", after[0], type_=erasure_requests.c.received_at.type),
                     bindparam("after_id", after[1]))
        )  # fmt: skip
    if ids is not None:
        statement = statement.where(erasure_requests.c.id.in_(list(ids)))
    if lock and supports_skip_locked(conn):
        statement = statement.with_for_update(skip_locked=skip_locked)
    return [_request_row(row) for row in conn.execute(statement).all()]


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
    for start in range(0, len(ordered), 1000):
        rows = conn.execute(
            select(lead_subjects.c.kind, lead_subjects.c.subject_hash, lead_subjects.c.lead_id)
            .where(lead_subjects.c.subject_hash.in_(ordered[start : start + 1000]))
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


_BY_SUBJECT = erasure_requests.c.kind.in_(("email", "phone"))


def subject_request_count(conn: Connection) -> int:
    """How many email and phone requests exist (requests are never deleted)."""
    return int(conn.scalar(select(func.count()).where(_BY_SUBJECT)) or 0)


def recent_subject_requests(
    conn: Connection, *, after_id: int, newest: int | None = None
) -> list[tuple[int, str, bytes]]:
    """(id, kind, hash) of the email and phone requests with an id above `after_id` (only
    the `newest` ones, when given)."""
    statement = (
        select(erasure_requests.c.id, erasure_requests.c.kind, erasure_requests.c.subject_hash)
        .where(_BY_SUBJECT, erasure_requests.c.id > after_id)
        .order_by(erasure_requests.c.id.desc())
    )
    if newest is not None:
        statement = statement.limit(newest)
    return [(int(i), kind, bytes(digest)) for i, kind, digest in conn.execute(statement).all()]


def add_leads_erased(conn: Connection, counts: Mapping[int, int]) -> None:
    """Count leads erased later for a request's subject (suppression) in the request."""
    if not counts:
        return
    conn.execute(
        update(erasure_requests)
        .where(erasure_requests.c.id == bindparam("request_id"))
        .values(leads_erased=erasure_requests.c.leads_erased + bindparam("more")),
        [{"request_id": request_id, "more": n} for request_id, n in sorted(counts.items())],
    )


def subject_requests(conn: Connection, *, limit: int) -> dict[tuple[str, bytes], int] | None:
    """Every email and phone request's (kind, hash) with its oldest request id: the
    suppression entries. None when there are more than `limit` of them."""
    if subject_request_count(conn) > limit:
        return None
    rows = conn.execute(
        select(
            erasure_requests.c.kind,
            erasure_requests.c.subject_hash,
            func.min(erasure_requests.c.id),
        )
        .where(_BY_SUBJECT)
        .group_by(erasure_requests.c.kind, erasure_requests.c.subject_hash)
    ).all()
    return {(kind, bytes(digest)): int(request_id) for kind, digest, request_id in rows}


def suppressing_requests(
    conn: Connection, lead_ids: Sequence[str], *, after_id: int = 0
) -> dict[str, int]:
    """Those of `lead_ids` whose email or phone belongs to a subject that asked for erasure
    (in a request newer than `after_id`), each with the oldest such request."""
    if not lead_ids:
        return {}
    rows = conn.execute(
        select(lead_subjects.c.lead_id, func.min(erasure_requests.c.id))
        .join_from(
            lead_subjects,
            erasure_requests,
            and_(
                erasure_requests.c.subject_hash == lead_subjects.c.subject_hash,
                erasure_requests.c.kind == lead_subjects.c.kind,
            ),
        )
        .where(
            ids_condition(conn, lead_subjects.c.lead_id, lead_ids),
            erasure_requests.c.id > after_id,
        )
        .group_by(lead_subjects.c.lead_id)
    )
    return {lead_id: int(request_id) for lead_id, request_id in rows}


@dataclass(frozen=True, slots=True)
class RequestUpdate:
    id: int
    status: str
    erased: int  # leads erased by this run, added to the request's count
    completed_at: datetime | None = None
    error: str | None = None


def update_requests(conn: Connection, changes: Sequence[RequestUpdate]) -> None:
    """Record outcomes in one statement; a completed request drops its clear identifier."""
    if not changes:
        return
    columns = {
        "ids": [change.id for change in changes],
        "statuses": [change.status for change in changes],
        "erased": [change.erased for change in changes],
        "done": [change.completed_at for change in changes],
        "errors": [change.error for change in changes],
    }
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(
                "UPDATE erasure_requests AS r SET status = v.status, "
                "leads_erased = r.leads_erased + v.erased, completed_at = v.done, "
                "error = v.error, "
                "subject = CASE WHEN v.status = 'completed' THEN NULL ELSE r.subject END "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), "
                "CAST(:erased AS integer[]), CAST(:done AS timestamptz[]), "
                "CAST(:errors AS text[])) AS v(id, status, erased, done, error) "
                "WHERE r.id = v.id"
            ),
            columns,
        )
        return
    statement = (
        update(erasure_requests)
        .where(erasure_requests.c.id == bindparam("request_id"))
        .values(
            status=bindparam("new_status"),
            leads_erased=erasure_requests.c.leads_erased + bindparam("erased"),
            completed_at=bindparam("done_at", type_=erasure_requests.c.completed_at.type),
            error=bindparam("failure"),
            subject=case(
                (bindparam("new_status") == "completed", null()), else_=erasure_requests.c.subject
            ),
        )
    )
    params: list[dict[str, Any]] = [
        {
            "request_id": change.id,
            "new_status": change.status,
            "erased": change.erased,
            "done_at": change.completed_at,
            "failure": change.error,
        }
        for change in changes
    ]
    conn.execute(statement, params)


def list_requests(
    conn: Connection,
    *,
    statuses: Sequence[str] | None = None,
    overdue_at: datetime | None = None,
    request_id: int | None = None,
) -> list[RequestRow]:
    """Requests in queue order; `overdue_at`: only open requests due before that time."""
    statement = select(*_COLUMNS).order_by(erasure_requests.c.received_at, erasure_requests.c.id)
    if request_id is not None:
        statement = statement.where(erasure_requests.c.id == request_id)
    if statuses:
        statement = statement.where(erasure_requests.c.status.in_(list(statuses)))
    if overdue_at is not None:
        statement = statement.where(
            erasure_requests.c.status.in_(OPEN_STATUSES), erasure_requests.c.due_at < overdue_at
        )
    return [_request_row(row) for row in conn.execute(statement).all()]

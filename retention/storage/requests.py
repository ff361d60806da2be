"""Erasure requests: the rows, the queue the erasure job works through, their outcomes.

A request names its subject by kind and keyed hash; the clear identifier (normalized) is kept
only while the request is open, for a lead-id request to find its lead. A request's hash stays
after it completes: it is the suppression entry (storage/suppression.py). Its lifecycle:
domain/requests.py.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    case,
    func,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.sql.expression import ColumnElement, Update

from retention.domain.requests import OPEN_STATUSES, RequestStatus
from retention.storage.dialect import chunks, insert_returning_id, supports_skip_locked
from retention.storage.schema import erasure_requests

__all__ = [
    "RequestRow",
    "RequestUpdate",
    "insert_request",
    "list_requests",
    "lock_open_requests",
    "open_request_counts",
    "open_request_exists",
    "open_requests_for",
    "status_update",
    "update_requests",
]


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
    status: str = RequestStatus.PENDING,
    completed_at: datetime | None = None,
    leads_erased: int = 0,
) -> int:
    values = {
        "kind": kind, "subject_hash": subject_hash, "subject": subject, "source": source,
        "received_at": received_at, "due_at": due_at, "completed_at": completed_at,
        "status": str(status), "leads_erased": leads_erased, "reference": reference,
    }  # fmt: skip
    return insert_returning_id(conn, erasure_requests, values)


def open_requests_for(
    conn: Connection,
    subjects: Collection[tuple[str, bytes]],
    *,
    statuses: Sequence[str] = OPEN_STATUSES,
) -> dict[tuple[str, bytes], int]:
    """The oldest request in `statuses` (by default an open one: pending, deferred or
    failed) of each of `subjects` (kind, hash) that has one."""
    found: dict[tuple[str, bytes], int] = {}
    for chunk in chunks(list(subjects), 500):
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


def open_request_counts(conn: Connection, *, now: datetime) -> dict[str, int]:
    """How many requests are pending, deferred and failed, and how many of those are overdue
    (past their due date): the open ones only, through the status index."""
    rows = conn.execute(
        select(
            erasure_requests.c.status,
            func.count(),
            func.count(case((erasure_requests.c.due_at < now, 1))),
        )
        .where(erasure_requests.c.status.in_(OPEN_STATUSES))
        .group_by(erasure_requests.c.status)
    ).all()
    counts = {str(status): 0 for status in OPEN_STATUSES}
    overdue = 0
    for status, number, late in rows:
        counts[str(status)] = int(number)
        overdue += int(late)
    return {**counts, "overdue": overdue}


def open_request_exists(conn: Connection) -> bool:
    """Whether any request is open (pending, deferred or failed): one index probe."""
    statement = select(erasure_requests.c.id).where(erasure_requests.c.status.in_(OPEN_STATUSES))
    return conn.scalar(statement.limit(1)) is not None


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
class RequestUpdate:
    id: int
    status: str
    erased: int  # leads erased by this run, added to the request's count
    completed_at: datetime | None = None
    error: str | None = None


class PostgresRequestUpdater:
    """All outcomes in one statement, from arrays (one round trip for a whole batch)."""

    def update(self, conn: Connection, changes: Sequence[RequestUpdate]) -> None:
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
            {
                "ids": [change.id for change in changes],
                "statuses": [change.status for change in changes],
                "erased": [change.erased for change in changes],
                "done": [change.completed_at for change in changes],
                "errors": [change.error for change in changes],
            },
        )


def status_update(leads_erased: ColumnElement[int]) -> Update:
    """The UPDATE of one request's outcome, for an executemany: binds `request_id`,
    `new_status`, `done_at` and `failure`; `leads_erased` is the column's new value (an
    addition for a run's outcome, a value for a replayed state). A completed request drops
    its clear identifier."""
    return (
        update(erasure_requests)
        .where(erasure_requests.c.id == bindparam("request_id"))
        .values(
            status=bindparam("new_status"),
            leads_erased=leads_erased,
            completed_at=bindparam("done_at", type_=erasure_requests.c.completed_at.type),
            error=bindparam("failure"),
            subject=case(
                (bindparam("new_status") == RequestStatus.COMPLETED, null()),
                else_=erasure_requests.c.subject,
            ),
        )
    )


class SQLiteRequestUpdater:
    """One executemany of the same UPDATE (no array parameters in SQLite)."""

    def update(self, conn: Connection, changes: Sequence[RequestUpdate]) -> None:
        conn.execute(
            status_update(erasure_requests.c.leads_erased + bindparam("erased")),
            [
                {
                    "request_id": change.id,
                    "new_status": change.status,
                    "erased": change.erased,
                    "done_at": change.completed_at,
                    "failure": change.error,
                }
                for change in changes
            ],
        )


def update_requests(conn: Connection, changes: Sequence[RequestUpdate]) -> None:
    """Record outcomes; a completed request drops its clear identifier."""
    if not changes:
        return
    updater = (
        PostgresRequestUpdater() if conn.dialect.name == "postgresql" else SQLiteRequestUpdater()
    )
    updater.update(conn, changes)


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

"""The rows the audit journal carries beside its events, and the rows replay puts back.

The journal's entries are read here from erasure_requests and legal_holds (never a clear
identifier, never a reference). Replay writes back, with the ids the journal gives: the
requests and holds it lacks, the requests' later states, hold releases, and the job_runs
rows of the runs whose events it restores (so no run id is handed out twice). On
PostgreSQL the id sequences are then moved past the ids written; SQLite numbers after the
largest id anyway.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Integer, Table, bindparam, func, insert, select
from sqlalchemy import update as update_statement

from retention.domain.journal_entries import HoldEntry, RequestEntry
from retention.domain.replay_plan import RequestState, RunEnd, RunStart
from retention.domain.requests import RequestStatus
from retention.storage.dialect import chunks
from retention.storage.requests import status_update
from retention.storage.schema import erasure_requests, job_runs, legal_holds

__all__ = [
    "advance_id_sequences",
    "existing_ids",
    "finish_runs",
    "hold_entries",
    "insert_holds",
    "insert_requests",
    "insert_runs",
    "release_holds",
    "request_entries",
    "set_request_states",
]


def request_entries(conn: Connection, received: Mapping[int, int]) -> list[RequestEntry]:
    """The entries of requests `received` (request id -> its request.received event id)."""
    found: list[RequestEntry] = []
    for chunk in chunks(sorted(received), 1000):
        rows = conn.execute(
            select(
                erasure_requests.c.id,
                erasure_requests.c.kind,
                erasure_requests.c.subject_hash,
                erasure_requests.c.received_at,
                erasure_requests.c.due_at,
                erasure_requests.c.source,
            ).where(erasure_requests.c.id.in_(chunk))
        )
        found += [
            RequestEntry(
                received[row.id],
                row.id,
                row.kind,
                bytes(row.subject_hash),
                row.received_at,
                row.due_at,
                row.source,
            )
            for row in rows
        ]
    return found


def hold_entries(
    conn: Connection, events: Sequence[tuple[int, int, datetime | None]]
) -> list[HoldEntry]:
    """The entries of hold events, given as (event id, hold id, released_at as of that
    event), in that order."""
    rows: dict[int, Any] = {}
    for chunk in chunks(sorted({hold_id for _, hold_id, _ in events}), 1000):
        rows.update(
            (row.id, row)
            for row in conn.execute(
                select(
                    legal_holds.c.id,
                    legal_holds.c.lead_id,
                    legal_holds.c.subject_kind,
                    legal_holds.c.subject_hash,
                    legal_holds.c.reason,
                    legal_holds.c.created_at,
                    legal_holds.c.expires_at,
                ).where(legal_holds.c.id.in_(chunk))
            )
        )
    found: list[HoldEntry] = []
    for event_id, hold_id, released_at in events:
        row = rows.get(hold_id)
        if row is not None:
            digest = bytes(row.subject_hash) if row.subject_hash is not None else None
            found.append(
                HoldEntry(
                    event_id,
                    row.id,
                    row.lead_id,
                    row.subject_kind,
                    digest,
                    row.reason,
                    row.created_at,
                    row.expires_at,
                    released_at,
                )
            )
    return found


# --- replay -----------------------------------------------------------------------------


def existing_ids(conn: Connection, table: Table, ids: Collection[int]) -> set[int]:
    found: set[int] = set()
    for chunk in chunks(sorted(ids), 1000):
        found.update(int(i) for i in conn.scalars(select(table.c.id).where(table.c.id.in_(chunk))))
    return found


def insert_requests(conn: Connection, entries: Sequence[RequestEntry]) -> None:
    """Requests as received: pending, no clear identifier, no reference (their later states
    follow from their events)."""
    if entries:
        conn.execute(
            insert(erasure_requests),
            [
                {
                    "id": e.request_id,
                    "kind": e.kind,
                    "subject_hash": e.subject_hash,
                    "subject": None,
                    "received_at": e.received_at,
                    "due_at": e.due_at,
                    "completed_at": None,
                    "status": RequestStatus.PENDING,
                    "leads_erased": 0,
                    "source": e.source,
                    "reference": None,
                    "error": None,
                }
                for e in entries
            ],
        )


def set_request_states(conn: Connection, states: Sequence[RequestState]) -> None:
    """Record each request's status; a completed one drops its clear identifier."""
    if not states:
        return
    erased = bindparam("erased", type_=Integer())
    conn.execute(
        status_update(func.coalesce(erased, erasure_requests.c.leads_erased)),
        [
            {
                "request_id": s.request_id,
                "new_status": s.status,
                "erased": s.leads_erased,
                "done_at": s.completed_at,
                "failure": s.error,
            }
            for s in states
        ],
    )


def insert_holds(conn: Connection, entries: Sequence[HoldEntry]) -> None:
    if entries:
        conn.execute(
            insert(legal_holds),
            [
                {
                    "id": e.hold_id,
                    "lead_id": e.lead_id,
                    "subject_kind": e.subject_kind,
                    "subject_hash": e.subject_hash,
                    "reason": e.reason,
                    "created_at": e.created_at,
                    "expires_at": e.expires_at,
                    "released_at": e.released_at,
                }
                for e in entries
            ],
        )


def release_holds(conn: Connection, releases: Sequence[tuple[int, datetime]]) -> int:
    """Release each (hold id, time) not released yet; how many were."""
    released = 0
    for hold_id, moment in releases:
        result = conn.execute(
            update_statement(legal_holds)
            .where(legal_holds.c.id == hold_id, legal_holds.c.released_at.is_(None))
            .values(released_at=moment)
        )
        released += result.rowcount
    return released


def insert_runs(conn: Connection, runs: Sequence[RunStart]) -> None:
    """job_runs rows of runs known from their run.started events (host and process unknown);
    `running` until their run.finished says otherwise."""
    if runs:
        conn.execute(
            insert(job_runs),
            [
                {
                    "id": r.run_id,
                    "job": r.job,
                    "started_at": r.started_at,
                    "finished_at": None,
                    "status": "running",
                    "dry_run": False,
                    "counts": {},
                    "host": None,
                    "pid": None,
                    "worker": 0,
                    "error": None,
                }
                for r in runs
            ],
        )


def finish_runs(conn: Connection, ends: Sequence[RunEnd]) -> None:
    for end in ends:
        conn.execute(
            update_statement(job_runs)
            .where(job_runs.c.id == end.run_id)
            .values(status=end.status, finished_at=end.finished_at, counts=dict(end.counts))
        )


class PostgresIdSequences:
    """setval of each table's id sequence to its largest id (or a larger one the journal
    knows), so that the next row inserted gets a new id. Not transactional: not for dry runs."""

    def advance(self, conn: Connection, table: Table, at_least: int) -> None:
        largest = select(func.coalesce(func.max(table.c.id), 0)).scalar_subquery()
        sequence = func.pg_get_serial_sequence(table.name, "id")
        conn.execute(select(func.setval(sequence, func.greatest(largest, at_least, 1))))


class SQLiteIdSequences:
    """Nothing to do: SQLite gives a new row the largest id plus one."""

    def advance(self, conn: Connection, table: Table, at_least: int) -> None:
        return None


def advance_id_sequences(conn: Connection, largest: Mapping[str, int]) -> None:
    """After rows were written with given ids: table name -> the largest id it must not hand
    out again."""
    sequences = PostgresIdSequences() if conn.dialect.name == "postgresql" else SQLiteIdSequences()
    tables = {table.name: table for table in (erasure_requests, legal_holds, job_runs)}
    for name, at_least in sorted(largest.items()):
        sequences.advance(conn, tables[name], at_least)

"""The job_runs table (one row per run of a job) and job_checks (one heartbeat per job)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from retention.storage.dialect import insert_for, insert_returning_id
from retention.storage.schema import audit_events, job_checks, job_runs

__all__ = [
    "RunRow",
    "StaleRun",
    "close_unrecorded_run",
    "finish_run",
    "last_checks",
    "latest_runs",
    "mark_stale_runs",
    "newest_recorded_time",
    "record_check",
    "start_run",
]

STALE_ERROR = (
    "the run ended without recording its end (its process was killed or crashed, or lost the"
    " database); closed by the next run"
)


def start_run(
    conn: Connection,
    *,
    job: str,
    started_at: datetime,
    dry_run: bool,
    host: str,
    pid: int,
    worker: int,
    status: str = "running",
) -> int:
    finished_at = started_at if status != "running" else None
    values = {
        "job": job, "started_at": started_at, "finished_at": finished_at, "status": status,
        "dry_run": dry_run, "counts": {}, "host": host, "pid": pid, "worker": worker,
    }  # fmt: skip
    return insert_returning_id(conn, job_runs, values)


def finish_run(
    conn: Connection,
    run_id: int,
    *,
    status: str,
    finished_at: datetime,
    counts: Mapping[str, Any],
    error: str | None = None,
) -> None:
    conn.execute(
        update(job_runs)
        .where(job_runs.c.id == run_id)
        .values(status=status, finished_at=finished_at, counts=dict(counts), error=error)
    )


@dataclass(frozen=True, slots=True)
class StaleRun:
    id: int
    job: str


def mark_stale_runs(conn: Connection, *, job: str, worker: int, now: datetime) -> list[StaleRun]:
    """Close the `running` rows of a worker slot whose lock we now hold: their process died.
    Returns the runs closed (as `failed`), oldest first."""
    stale = (
        conn.execute(
            select(job_runs.c.id)
            .where(
                job_runs.c.job == job, job_runs.c.worker == worker, job_runs.c.status == "running"
            )
            .order_by(job_runs.c.id)
        )
        .scalars()
        .all()
    )
    if not stale:
        return []
    conn.execute(
        update(job_runs)
        .where(job_runs.c.id.in_(stale))
        .values(status="failed", finished_at=now, error=STALE_ERROR)
    )
    return [StaleRun(int(run_id), job) for run_id in stale]


def newest_recorded_time(conn: Connection, *, exclude_run: int | None) -> datetime | None:
    """The clock this tool last wrote down, leaving out run `exclude_run` (the caller's own):
    the time of the newest audit event and the start of the newest run (newest by id, not by
    time, so that one run under a clock set wrong does not outlive a later correct one).
    Both are primary-key lookups from the end."""
    other = job_runs.c.id != exclude_run if exclude_run is not None else None
    runs = select(job_runs.c.started_at).order_by(job_runs.c.id.desc()).limit(1)
    events = select(audit_events.c.occurred_at).order_by(audit_events.c.id.desc()).limit(1)
    if other is not None:
        runs = runs.where(other)
        events = events.where(
            (audit_events.c.run_id != exclude_run) | audit_events.c.run_id.is_(None)
        )
    times = [t for t in (conn.scalar(runs), conn.scalar(events)) if t is not None]
    return max(times, default=None)


@dataclass(frozen=True, slots=True)
class RunRow:
    """A job_runs row, as the operator's view shows it."""

    id: int
    job: str
    status: str
    dry_run: bool
    started_at: datetime
    finished_at: datetime | None
    counts: Mapping[str, Any]
    error: str | None


def latest_runs(conn: Connection, job: str, *, statuses: tuple[str, ...] = ()) -> RunRow | None:
    """The newest run of `job` (by id), of one of `statuses` if given; dry runs aside."""
    statement = (
        select(
            job_runs.c.id, job_runs.c.job, job_runs.c.status, job_runs.c.dry_run,
            job_runs.c.started_at, job_runs.c.finished_at, job_runs.c.counts, job_runs.c.error,
        )
        .where(job_runs.c.job == job, job_runs.c.dry_run.is_(False))
        .order_by(job_runs.c.id.desc())
        .limit(1)
    )  # fmt: skip
    if statuses:
        statement = statement.where(job_runs.c.status.in_(statuses))
    row = conn.execute(statement).first()
    return RunRow(*row) if row is not None else None


def close_unrecorded_run(conn: Connection, run_id: int, *, now: datetime, error: str) -> bool:
    """Record as failed a run whose end could not be written (the database was down): True
    when the row was still `running`."""
    result = conn.execute(
        update(job_runs)
        .where(job_runs.c.id == run_id, job_runs.c.status == "running")
        .values(status="failed", finished_at=now, error=error)
    )
    return result.rowcount == 1


def record_check(conn: Connection, job: str, *, checked_at: datetime, host: str, pid: int) -> None:
    """The heartbeat of an idle check: one row per job, rewritten in place."""
    upsert = insert_for(conn, job_checks).values(job=job, checked_at=checked_at, host=host, pid=pid)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[job_checks.c.job],
            set_={"checked_at": checked_at, "host": host, "pid": pid},
        )
    )


def last_checks(conn: Connection) -> dict[str, datetime]:
    """The last idle check of each job that had one."""
    rows = conn.execute(select(job_checks.c.job, job_checks.c.checked_at)).all()
    return {str(job): checked_at for job, checked_at in rows}

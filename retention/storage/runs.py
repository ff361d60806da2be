"""The job_runs table: one row per run of a job."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from retention.storage.schema import job_runs

__all__ = ["finish_run", "mark_stale_runs", "start_run"]


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
    run_id = conn.execute(
        insert(job_runs)
        .values(
            job=job,
            started_at=started_at,
            status=status,
            dry_run=dry_run,
            counts={},
            host=host,
            pid=pid,
            worker=worker,
            finished_at=started_at if status != "running" else None,
        )
        .returning(job_runs.c.id)
    ).scalar_one()
    return int(run_id)


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


def mark_stale_runs(conn: Connection, *, job: str, worker: int, now: datetime) -> int:
    """Close the `running` rows of a worker slot whose lock we now hold: their process died."""
    result = conn.execute(
        update(job_runs)
        .where(
            job_runs.c.job == job,
            job_runs.c.worker == worker,
            job_runs.c.status == "running",
        )
        .values(
            status="failed",
            finished_at=now,
            error="the process ended before the run finished (killed or crashed)",
        )
    )
    return result.rowcount

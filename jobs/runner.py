"""Running a job once: its lock, its job_runs row, its run.started/run.finished events.

Two runs of the same job (worker slot) never overlap: the loser records a `skipped` run and
returns. A run's `running` row left behind by a killed process is closed as `failed` by the
next run that gets the lock.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from retention import clock
from retention.domain.audit_chain import EventDraft, canonical_details
from retention.storage.audit import ChainHead, append_events, read_head
from retention.storage.engine import READ_ONLY, describe_error
from retention.storage.locks import RunLock, try_run_lock
from retention.storage.runs import finish_run, mark_stale_runs, start_run

__all__ = ["Interrupted", "RunFailed", "RunOutcome", "run_job"]

logger = logging.getLogger(__name__)


class Interrupted(Exception):
    """Raised by a job body that stopped between batches because it was asked to."""

    def __init__(self, counts: Mapping[str, Any]) -> None:
        super().__init__("interrupted")
        self.counts = counts


class RunFailed(Exception):
    """Raised by a job body that did its work but must report failure (status `failed`,
    exit 1), e.g. an erasure request that failed its verification; its counts are kept."""

    def __init__(self, message: str, counts: Mapping[str, Any]) -> None:
        super().__init__(message)
        self.counts = counts


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: int
    job: str
    status: str  # succeeded, skipped, interrupted, failed
    dry_run: bool
    counts: Mapping[str, Any]
    head: ChainHead | None
    result: Any = None
    error: str | None = None


def _acquire(engine: Engine, job: str, workers: int) -> tuple[RunLock, int] | None:
    for worker in range(workers):
        lock = try_run_lock(engine, job, worker)
        if lock is not None:
            return lock, worker
    return None


def _record_skipped(engine: Engine, job: str, dry_run: bool, now: datetime) -> int:
    with engine.begin() as conn:
        return start_run(
            conn, job=job, started_at=now, dry_run=dry_run, host=socket.gethostname(),
            pid=os.getpid(), worker=-1, status="skipped",
        )  # fmt: skip


def _event(action: str, now: datetime, run_id: int, details: Mapping[str, Any]) -> EventDraft:
    return EventDraft(now, action, canonical_details(details), run_id=run_id)


def run_job(
    engine: Engine,
    job: str,
    body: Callable[[int], tuple[Mapping[str, Any], Any]],
    *,
    now: datetime,
    dry_run: bool,
    workers: int = 1,
) -> RunOutcome:
    """Run `body(run_id) -> (counts, result)` as one run of `job`.

    `body` raises Interrupted to stop early (status `interrupted`); any other exception marks
    the run `failed` and propagates. Dry runs write no audit events, only their job_runs row.
    """
    acquired = _acquire(engine, job, workers)
    if acquired is None:
        run_id = _record_skipped(engine, job, dry_run, now)
        logger.info(
            "another %s run holds the lock: skipped", job, extra={"run_id": run_id, "job": job}
        )
        return RunOutcome(run_id, job, "skipped", dry_run, {}, None)
    lock, worker = acquired
    try:
        with engine.begin() as conn:
            # A dry run changes nothing but its own row: the next real run closes them.
            stale = [] if dry_run else mark_stale_runs(conn, job=job, worker=worker, now=now)
            run_id = start_run(
                conn, job=job, started_at=now, dry_run=dry_run, host=socket.gethostname(),
                pid=os.getpid(), worker=worker,
            )  # fmt: skip
            # A run left `running` by a dead process gets the run.finished event it never
            # wrote, in the transaction that closes its row.
            events = [
                _event("run.finished", now, dead.id, {
                    "job": job, "status": "failed", "counts": {}, "closed_by_run": run_id,
                })
                for dead in stale
            ]  # fmt: skip
            if not dry_run:
                events.append(_event("run.started", now, run_id, {"job": job}))
            append_events(conn, events)
        if stale:
            logger.warning(
                "closed %d %s run(s) left running by a dead process: %s", len(stale), job,
                ", ".join(str(dead.id) for dead in stale), extra={"run_id": run_id, "job": job},
            )  # fmt: skip
        extra = {"run_id": run_id, "job": job}
        logger.info("%s run started%s", job, " (dry run)" if dry_run else "", extra=extra)
        status, error, result = "succeeded", None, None
        try:
            counts, result = body(run_id)
        except Interrupted as stop:
            status, counts = "interrupted", stop.counts
        except RunFailed as failure:
            status, counts, error = "failed", failure.counts, str(failure)
            logger.error("%s run failed: %s", job, error, extra=extra)
        except BaseException as exc:
            status, counts, error = "failed", {}, describe_error(exc)
            logger.error("%s run failed: %s", job, error, extra=extra)
            try:
                _close(engine, run_id, job, status, counts, error, dry_run)
            except Exception as close_exc:  # the first error is the one to report
                logger.error("could not record the failed run: %s", describe_error(close_exc))
            raise
        head = _close(engine, run_id, job, status, counts, error, dry_run)
        return RunOutcome(run_id, job, status, dry_run, counts, head, result, error)
    finally:
        lock.release()


def _close(
    engine: Engine,
    run_id: int,
    job: str,
    status: str,
    counts: Mapping[str, Any],
    error: str | None,
    dry_run: bool,
) -> ChainHead:
    finished = clock.utcnow()
    with engine.begin() as conn:
        finish_run(conn, run_id, status=status, finished_at=finished, counts=counts, error=error)
        if not dry_run:
            details = {"job": job, "status": status, "counts": dict(counts)}
            return append_events(conn, [_event("run.finished", finished, run_id, details)])
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return read_head(conn)

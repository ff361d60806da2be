"""Running a job once: its lock, its job_runs row, its run.started/run.finished events, the
head it publishes and what its observer is told.

Two runs of the same job (worker slot) never overlap: the loser records a `skipped` run and
returns. A run's `running` row left behind by a killed process is closed as `failed` by the
next run that gets the lock, with the `run.finished` event it never wrote.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar

from sqlalchemy import Engine

from retention import clock
from retention.config import Settings
from retention.domain.events import RunFinished, RunStarted
from retention.logcontext import job_context
from retention.services.audit import Published, publish_head
from retention.services.journal import refuse_if_restored
from retention.services.observer import RunObserver
from retention.storage.audit import ChainHead, append_events, read_head
from retention.storage.engine import READ_ONLY, describe_error
from retention.storage.locks import RunLock, try_run_lock
from retention.storage.residue import ResidueReport
from retention.storage.runs import finish_run, mark_stale_runs, record_check, start_run

__all__ = [
    "Interrupted",
    "JobRun",
    "RunArgs",
    "RunFailed",
    "RunOutcome",
    "run_job",
    "timed_phase",
]

logger = logging.getLogger(__name__)

R = TypeVar("R")


class RunArgs(TypedDict, total=False):
    """What every job function takes besides the settings and the engine."""

    dry_run: bool  # report what the run would do; change nothing but its job_runs row
    observer: RunObserver | None  # told of batches, phases and the run's end
    should_stop: Callable[[], bool] | None  # asked between batches (SIGTERM, the scheduler)
    # Look first, and when there is nothing to do record only the job's heartbeat: no lock,
    # no job_runs row, no audit event (`retention run JOB`, the scheduler).
    check_first: bool


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
    run_id: int | None  # None: an idle check, which records no run
    job: str
    status: str  # succeeded, skipped, interrupted, failed; idle: nothing to do
    dry_run: bool
    counts: Mapping[str, Any]
    head: ChainHead | None
    result: Any = None
    error: str | None = None
    published: Published | None = None  # None: a dry run or a skipped run published none


@dataclass(frozen=True, slots=True)
class JobRun(Generic[R]):
    """What a job function returns: the run, the service's result, the residue cleanup."""

    outcome: RunOutcome
    result: R | None
    residue: ResidueReport | None

    @property
    def published(self) -> Published | None:
        return self.outcome.published


@contextmanager
def timed_phase(observer: RunObserver | None, job: str, phase: str) -> Iterator[None]:
    """Tell `observer` how long the block took (when it ends without an error)."""
    started = time.perf_counter()
    yield
    if observer is not None:
        observer.phase_done(job, phase, time.perf_counter() - started)


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


def run_job(
    settings: Settings,
    engine: Engine,
    job: str,
    body: Callable[[int], tuple[Mapping[str, Any], Any]],
    *,
    now: datetime,
    dry_run: bool,
    workers: int = 1,
    observer: RunObserver | None = None,
    has_work: Callable[[], bool] | None = None,
) -> RunOutcome:
    """Run `body(run_id) -> (counts, result)` as one run of `job`, then publish the head it
    left (audit.anchor_file; an anchor that cannot be written is the outcome's published error)
    and tell `observer` how it ended.

    `body` raises Interrupted to stop early (status `interrupted`); any other exception marks
    the run `failed` and propagates. Dry runs write no audit events, only their job_runs row.
    With `has_work`, a run that finds nothing to do is only a heartbeat (status `idle`).
    """
    refuse_if_restored(settings, engine)  # before anything, dry runs and checks included
    started = time.perf_counter()
    if has_work is not None and not dry_run and not has_work():
        with engine.begin() as conn:
            record_check(conn, job, checked_at=now, host=socket.gethostname(), pid=os.getpid())
        logger.debug("%s: nothing to do", job, extra={"job": job})
        _tell(observer, job, None, "idle", {}, started)
        return RunOutcome(None, job, "idle", dry_run, {}, None)
    acquired = _acquire(engine, job, workers)
    if acquired is None:
        run_id = _record_skipped(engine, job, dry_run, now)
        logger.info(
            "another %s run holds the lock: skipped", job, extra={"run_id": run_id, "job": job}
        )
        _tell(observer, job, run_id, "skipped", {}, started)
        return RunOutcome(run_id, job, "skipped", dry_run, {}, None)
    lock, worker = acquired
    try:
        run_id = _open(engine, job, worker, now=now, dry_run=dry_run)
        extra = {"run_id": run_id, "job": job}
        logger.info("%s run started%s", job, " (dry run)" if dry_run else "", extra=extra)
        status, error, result = "succeeded", None, None
        try:
            with job_context(job, run_id):
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
            _tell(observer, job, run_id, status, counts, started)
            raise
        head = _close(engine, run_id, job, status, counts, error, dry_run)
    finally:
        lock.release()
    published = _publish(settings, engine, job, run_id, head, dry_run)
    _tell(observer, job, run_id, status, counts, started)
    return RunOutcome(run_id, job, status, dry_run, counts, head, result, error, published)


def _open(engine: Engine, job: str, worker: int, *, now: datetime, dry_run: bool) -> int:
    """The run's row and run.started event; a run left `running` by a dead process gets the
    run.finished event it never wrote, in the transaction that closes its row."""
    with engine.begin() as conn:
        # A dry run changes nothing but its own row: the next real run closes them.
        stale = [] if dry_run else mark_stale_runs(conn, job=job, worker=worker, now=now)
        run_id = start_run(
            conn, job=job, started_at=now, dry_run=dry_run, host=socket.gethostname(),
            pid=os.getpid(), worker=worker,
        )  # fmt: skip
        events = [
            RunFinished(job, "failed", {}, closed_by_run=run_id).draft(now, run_id=dead.id)
            for dead in stale
        ]
        if not dry_run:
            events.append(RunStarted(job).draft(now, run_id=run_id))
        append_events(conn, events)
    if stale:
        logger.warning(
            "closed %d %s run(s) left running by a dead process: %s", len(stale), job,
            ", ".join(str(dead.id) for dead in stale), extra={"run_id": run_id, "job": job},
        )  # fmt: skip
    return run_id


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
            ended = RunFinished(job, status, dict(counts)).draft(finished, run_id=run_id)
            return append_events(conn, [ended])
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return read_head(conn)


def _publish(
    settings: Settings, engine: Engine, job: str, run_id: int, head: ChainHead, dry_run: bool
) -> Published | None:
    """Publish the head a run left (the job's summary line carries it); a dry run appended
    nothing."""
    if dry_run:
        return None
    return publish_head(
        settings, engine, head, source=job, run_id=run_id, when=clock.utcnow(), log=False
    )


def _tell(
    observer: RunObserver | None, job: str, run_id: int | None, status: str,
    counts: Mapping[str, Any], started: float,
) -> None:  # fmt: skip
    if observer is not None:
        observer.run_finished(job, run_id, status, counts, time.perf_counter() - started)

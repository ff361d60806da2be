"""Working through the queue of open requests: batch after batch, on one worker or several.

On PostgreSQL `erasure.workers` workers run batches at once, each on its own connection and in
its own transactions; requests are handed out under a mutex, after the newest one handed out
so far, and locked with FOR UPDATE SKIP LOCKED, so no request is taken twice in a run. A
request can meet a lead another worker's batch holds at that moment (two requests of one
seeker): it keeps its status, and once the batches are done it is carried out again on its
own (not when the run is stopped or fails: the next run takes it up).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine

from retention.domain.erasure import ErasedFields
from retention.errors import VerificationError
from retention.services import erasure_batch as batches
from retention.services.erasure_outcomes import RequestOutcome, merge_retries
from retention.services.observer import BatchStats, RunObserver
from retention.storage.requests import RequestRow, lock_open_requests

__all__ = ["Progress", "Queue", "work_through_queue"]

logger = logging.getLogger(__name__)


@dataclass
class Queue:
    """The open requests one run works through, shared by its workers. Each batch is taken
    (and locked) after the newest request handed out so far in this run, so no request is
    taken twice by one run, even when it stays open (deferred, or left busy)."""

    size: int
    request_ids: Sequence[int] | None
    skips_audited: frozenset[tuple[int, str]] = frozenset()  # see erasure_batch.carry_out
    after: tuple[datetime, int] | None = None
    stopping: bool = False  # a worker failed: the others stop after their batch
    mutex: threading.Lock = field(default_factory=threading.Lock)

    def take(self, conn: Connection) -> list[RequestRow]:
        with self.mutex:
            requests = lock_open_requests(
                conn, limit=self.size, after=self.after, ids=self.request_ids,
                skip_locked=self.request_ids is None,
            )  # fmt: skip
            if requests:
                newest = requests[-1].key
                self.after = newest if self.after is None else max(self.after, newest)
            return requests


@dataclass
class Progress:
    """Outcomes of a run's batches, from one worker or several, told to the observer."""

    size: int
    observer: RunObserver | None
    outcomes: list[RequestOutcome] = field(default_factory=list)
    batches: int = 0
    mutex: threading.Lock = field(default_factory=threading.Lock)
    _seen: set[int | None] = field(default_factory=set)
    _held: set[tuple[int | None, str]] = field(default_factory=set)

    def add(self, batch: Sequence[RequestOutcome], seconds: float) -> None:
        with self.mutex:
            self.batches += 1
            self.outcomes += batch
            self._seen.update(o.request_id for o in batch)  # a retried request counts once
            held = {(o.request_id, lead_id) for o in batch for lead_id in o.held_ids}
            new_held = len(held - self._held)  # a skip is audited once per run
            self._held |= held
            logger.debug("erasure batch %d: %d requests", self.batches, len(batch))
            if self.observer is not None:
                self.observer.batch_done(
                    BatchStats(
                        job="erasure", batch=self.batches, seconds=seconds, size=self.size,
                        rows=sum(o.erased_now for o in batch),
                        held=new_held, requests=len(batch),
                        total_rows=sum(o.erased_now for o in self.outcomes),
                        total_held=len(self._held),
                        total_requests=len(self._seen), due=0,
                    )
                )  # fmt: skip


def _work_through(
    engine: Engine, queue: Queue, progress: Progress, fields: ErasedFields, *,
    now: datetime, run_id: int | None, should_stop: Callable[[], bool] | None,
) -> bool:  # fmt: skip
    """Carry out batches from `queue` until it is empty (False) or the run is told to stop
    (True). A batch that fails its verification is rolled back and retried one by one."""
    while True:
        if queue.stopping or (should_stop is not None and should_stop()):
            return True
        started = time.perf_counter()
        try:
            with engine.begin() as conn:
                batches.lock_for_erasure(conn)
                requests = queue.take(conn)
                if not requests:
                    return False
                try:
                    batch = batches.carry_out(conn, requests, fields, now=now, run_id=run_id,
                                      skips_audited=queue.skips_audited)  # fmt: skip
                except VerificationError as exc:
                    raise batches.BatchRolledBack(requests, exc) from exc
        except batches.BatchRolledBack as rollback:
            logger.warning(
                "a batch of %d requests failed its verification (%s); retrying one by one",
                len(rollback.requests), rollback.cause,
            )  # fmt: skip
            batch = batches.carry_out_one_by_one(
                engine, rollback.requests, fields, now=now, run_id=run_id,
                skips_audited=queue.skips_audited,
            )  # fmt: skip
        progress.add(batch, time.perf_counter() - started)


def _in_parallel(workers: int, work: Callable[[], bool], queue: Queue) -> bool:
    """Run `work` on `workers` threads (each worker its own connection and transactions);
    the first error stops the others after their batch and is raised."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="erasure") as pool:
        # Each worker carries the run's context (its log lines name the run).
        futures = [pool.submit(contextvars.copy_context().run, work) for _ in range(workers)]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        if any(future.exception() is not None for future in done):
            queue.stopping = True
        wait(futures)
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return any(future.result() for future in futures)


def work_through_queue(
    engine: Engine, fields: ErasedFields, *, size: int, workers: int,
    request_ids: Sequence[int] | None, now: datetime, run_id: int | None,
    observer: RunObserver | None, should_stop: Callable[[], bool] | None,
) -> tuple[Progress, bool]:  # fmt: skip
    """Carry out the open requests (all, or `request_ids`) on `workers` workers, then once
    more the requests left busy; the run's progress (one outcome per request) and whether it
    was told to stop."""
    progress = Progress(size, observer)
    queue = Queue(size, request_ids)

    def work(queue: Queue = queue) -> bool:
        return _work_through(
            engine, queue, progress, fields, now=now, run_id=run_id, should_stop=should_stop
        )

    stopped = work() if workers == 1 else _in_parallel(workers, work, queue)
    busy = [o.request_id for o in progress.outcomes if o.busy and o.request_id is not None]
    if busy and workers > 1 and not stopped:
        first = len(progress.outcomes)
        audited = frozenset(
            (o.request_id, lead_id)
            for o in progress.outcomes
            if o.request_id is not None
            for lead_id in o.held_ids
        )
        stopped = work(Queue(size, busy, audited))
        progress.outcomes = merge_retries(progress.outcomes[:first], progress.outcomes[first:])
    return progress, stopped

"""Watching runs from outside: batch timings and counts, phases, and each run's end.

The purge and the erasure call a `RunObserver` after each batch they commit, and the job runner
after each phase and at the end of each run. The command line's progress line, the metrics
(jobs/metrics.py) and the benchmarks (bench/recorder.py) are observers: subclass
`RunObserver`, override the hooks you need (each does nothing by default) and pass it as
`observer=` to `purge_job`, `erasure_job`, `purge_due_leads` or `process_requests`. Hooks
run in the thread of the batch (the erasure's workers call them one at a time); they must be
quick and must not raise.

    class Timings(RunObserver):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def batch_done(self, stats: BatchStats) -> None:
            self.seconds.append(stats.seconds)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BatchStats", "Observers", "RunObserver"]


@dataclass(frozen=True, slots=True)
class BatchStats:
    """One committed batch of a run, and the run's totals so far."""

    job: str  # purge or erasure
    batch: int  # its number in the run, from 1
    seconds: float  # wall time of its transaction (an erasure batch retried one by one: all)
    size: int  # the batch size in effect: leads per purge batch, requests per erasure batch
    rows: int  # leads this batch deleted (purge) or erased (erasure)
    held: int  # held leads it skipped (each audited once per run)
    requests: int  # erasure: the requests it carried out; purge: 0
    total_rows: int  # the run so far
    total_held: int
    total_requests: int  # erasure: distinct requests so far
    due: int  # purge: leads due when the run started (the whole work); erasure: 0


class RunObserver:
    """Hooks of a run; every one does nothing unless overridden."""

    def batch_done(self, stats: BatchStats) -> None:
        """After each batch commits."""

    def phase_done(self, job: str, phase: str, seconds: float) -> None:
        """After a phase of a run: `work` (the batches, counting included), `residue` (the
        WAL checkpoint or VACUUM after it)."""

    def run_finished(
        self, job: str, run_id: int | None, status: str, counts: Mapping[str, Any],
        seconds: float,
    ) -> None:  # fmt: skip
        """After a run is recorded: its status (succeeded, failed, interrupted, skipped; or
        idle, a check that found nothing to do and recorded no run: run_id None), its counts
        and its wall time."""


class Observers(RunObserver):
    """Several observers as one: each hook calls them in turn."""

    def __init__(self, *observers: RunObserver | None) -> None:
        self._observers = [observer for observer in observers if observer is not None]

    def batch_done(self, stats: BatchStats) -> None:
        for observer in self._observers:
            observer.batch_done(stats)

    def phase_done(self, job: str, phase: str, seconds: float) -> None:
        for observer in self._observers:
            observer.phase_done(job, phase, seconds)

    def run_finished(
        self, job: str, run_id: int | None, status: str, counts: Mapping[str, Any],
        seconds: float,
    ) -> None:  # fmt: skip
        for observer in self._observers:
            observer.run_finished(job, run_id, status, counts, seconds)

"""The benchmarks' RunObserver: what the library tells about a run, kept as a RunTimings.

Imported only once the code under test is on sys.path (it imports the library). Pass a
`Recorder()` as `observer=` to `purge_job`, `erasure_job`, `purge_due_leads` or
`process_requests`; its `timings` then hold each committed batch's transaction time and the
batch size in effect (`batch_done`), the time of each phase, `work` and `residue`
(`phase_done`), and the run's status, counts and wall time (`run_finished`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness import RunTimings
from retention.services.observer import BatchStats, RunObserver

__all__ = ["Recorder"]


class Recorder(RunObserver):
    def __init__(self) -> None:
        self.timings = RunTimings()

    def batch_done(self, stats: BatchStats) -> None:
        self.timings.batch_seconds.append(stats.seconds)
        self.timings.batch_size = stats.size

    def phase_done(self, job: str, phase: str, seconds: float) -> None:
        self.timings.phases[phase] = self.timings.phases.get(phase, 0.0) + seconds

    def run_finished(
        self, job: str, run_id: int | None, status: str, counts: Mapping[str, Any], seconds: float
    ) -> None:
        self.timings.status = status
        self.timings.counts = dict(counts)
        self.timings.run_seconds = seconds

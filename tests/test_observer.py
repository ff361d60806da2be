"""What a RunObserver is told: each batch committed, each phase, each run's end (both
databases)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from freezegun import freeze_time
from sqlalchemy import Engine

from jobs.erasure import erasure_job
from jobs.purge import purge_job
from retention.config import Settings
from retention.services.holds import place_hold
from retention.services.observer import BatchStats, RunObserver
from retention.services.requests import add_request
from tests.factories import FROZEN_NOW_TEXT, NOW, due_lead, fresh_lead, seed


class Recorder(RunObserver):
    def __init__(self) -> None:
        self.batches: list[BatchStats] = []
        self.phases: list[tuple[str, str]] = []
        self.runs: list[tuple[str, str, dict[str, Any]]] = []

    def batch_done(self, stats: BatchStats) -> None:
        self.batches.append(stats)

    def phase_done(self, job: str, phase: str, seconds: float) -> None:
        assert seconds >= 0
        self.phases.append((job, phase))

    def run_finished(
        self, job: str, run_id: int | None, status: str, counts: Mapping[str, Any], seconds: float
    ) -> None:
        self.runs.append((job, status, dict(counts)))


def test_a_purge_tells_each_batch_its_phases_and_its_end(
    settings: Settings, engine: Engine
) -> None:
    seed(settings, engine, [due_lead(n) for n in range(1, 8)] + [fresh_lead(9)])
    place_hold(settings, engine, reason="case 1", now=NOW, lead_id="lead-000002")
    seen = Recorder()
    with freeze_time(FROZEN_NOW_TEXT):
        run = purge_job(settings, engine, batch_size=3, observer=seen, force=True)
    assert run.result is not None and run.result.deleted == 6
    assert [b.batch for b in seen.batches] == list(range(1, len(seen.batches) + 1))
    assert sum(b.rows for b in seen.batches) == 6 == seen.batches[-1].total_rows
    assert sum(b.held for b in seen.batches) == 1 == seen.batches[-1].total_held
    assert {(b.job, b.size, b.due) for b in seen.batches} == {("purge", 3, 7)}
    assert all(b.seconds >= 0 for b in seen.batches)  # frozen clock: perf_counter too
    assert seen.phases == [("purge", "work"), ("purge", "residue")]
    assert [(job, status) for job, status, _ in seen.runs] == [("purge", "succeeded")]
    assert seen.runs[0][2]["deleted"] == 6


def test_an_erasure_run_tells_its_batches_and_a_skipped_run_its_end(
    settings: Settings, engine: Engine
) -> None:
    seed(settings, engine, [fresh_lead(n) for n in range(1, 4)])
    with freeze_time(FROZEN_NOW_TEXT):
        for n in range(1, 4):
            add_request(settings, engine, now=NOW, email=f"seeker.{n}@example.com")
        seen = Recorder()
        erasure_job(settings, engine, observer=seen)
    assert seen.batches and seen.batches[-1].total_requests == 3
    assert seen.batches[-1].total_rows == 3 and seen.batches[-1].job == "erasure"
    assert seen.runs == [("erasure", "succeeded", seen.runs[0][2])]

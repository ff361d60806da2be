"""The purge job: one run of `purge_due_leads` under the job's lock, with residue cleanup."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from jobs.runner import Interrupted, JobRun, run_job, timed_phase
from retention import clock
from retention.config import Settings
from retention.services.observer import RunObserver
from retention.services.purge import PurgeResult, purge_due_leads
from retention.services.residue import PURGE_TABLES, clean_after
from retention.storage.dialect import concurrent_workers

__all__ = ["PurgeRun", "purge_job"]

logger = logging.getLogger(__name__)

PurgeRun = JobRun[PurgeResult]


def purge_job(
    settings: Settings,
    engine: Engine,
    *,
    dry_run: bool = False,
    force: bool = False,
    batch_size: int | None = None,
    limit: int | None = None,
    observer: RunObserver | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PurgeRun:
    now = clock.utcnow()
    state: dict[str, Any] = {}

    def body(run_id: int) -> tuple[dict[str, Any], PurgeResult]:
        with timed_phase(observer, "purge", "work"):
            result = purge_due_leads(
                settings, engine, now=now, run_id=run_id, dry_run=dry_run, force=force,
                batch_size=batch_size, limit=limit, observer=observer, should_stop=should_stop,
            )  # fmt: skip
        state["result"] = result
        with timed_phase(observer, "purge", "residue"):
            residue = clean_after(engine, PURGE_TABLES, changed=bool(result.deleted) and not
                                  dry_run, vacuum=settings.purge.vacuum)  # fmt: skip
        state["residue"] = residue
        counts = {
            "deleted": result.deleted,
            "hold_skipped": result.hold_skipped,
            "batches": result.batches,
            "by_rule": result.by_rule,
            "residue": residue.as_dict() if residue else None,
        }
        if result.stopped:
            raise Interrupted(counts)
        return counts, result

    workers = concurrent_workers(engine, settings.purge.workers)
    outcome = run_job(settings, engine, "purge", body, now=now, dry_run=dry_run,
                      workers=workers, observer=observer)  # fmt: skip
    result: PurgeResult | None = state.get("result")
    if result is not None:
        verb = "would delete" if dry_run else "deleted"
        logger.info(
            "purge run %d %s: %s %d (ttl %d, ceiling %d), %d held, %d batches; audit head %s",
            outcome.run_id, outcome.status, verb, result.deleted, result.by_rule["ttl"],
            result.by_rule["ceiling"], result.hold_skipped, result.batches, outcome.head,
            extra={"run_id": outcome.run_id, "job": "purge"},
        )  # fmt: skip
    return JobRun(outcome, result, state.get("residue"))

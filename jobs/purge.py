"""The purge job: one run of `purge_due_leads` under the job's lock, with residue cleanup."""

from __future__ import annotations

import logging
from typing import Any, Unpack

from sqlalchemy import Engine

from jobs.runner import Interrupted, JobRun, RunArgs, run_job, timed_phase
from retention import clock
from retention.config import Settings
from retention.services.purge import PurgeOptions, PurgeResult, purge_due_leads, purge_has_work
from retention.services.residue import PURGE_TABLES, clean_after
from retention.storage.dialect import concurrent_workers

__all__ = ["PurgeJobArgs", "PurgeRun", "purge_job"]

logger = logging.getLogger(__name__)

PurgeRun = JobRun[PurgeResult]


class PurgeJobArgs(RunArgs, PurgeOptions, total=False):
    """A purge run's arguments: every job's, and the purge's own (force, batch size, limit)."""


def purge_job(settings: Settings, engine: Engine, **run: Unpack[PurgeJobArgs]) -> PurgeRun:
    now = clock.utcnow()
    state: dict[str, Any] = {}
    dry_run, observer = run.get("dry_run", False), run.get("observer")
    options = PurgeOptions(force=run.get("force", False), batch_size=run.get("batch_size"),
                           limit=run.get("limit"))  # fmt: skip

    def body(run_id: int) -> tuple[dict[str, Any], PurgeResult]:
        with timed_phase(observer, "purge", "work"):
            result = purge_due_leads(
                settings, engine, now=now, run_id=run_id, dry_run=dry_run, observer=observer,
                should_stop=run.get("should_stop"), **options,
            )  # fmt: skip
        state["result"] = result
        with timed_phase(observer, "purge", "residue"):
            residue = clean_after(engine, PURGE_TABLES, changed=bool(result.deleted) and not
                                  dry_run, vacuum=settings.purge.vacuum)  # fmt: skip
        state["residue"] = residue
        counts = {
            "due_at_start": result.due_at_start,  # the report's backlog over time
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
    look_first = run.get("check_first", False) and not options["force"]
    outcome = run_job(
        settings, engine, "purge", body, now=now, dry_run=dry_run, workers=workers,
        observer=observer,
        has_work=(lambda: purge_has_work(settings, engine, now=now)) if look_first else None,
    )  # fmt: skip
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

"""The purge job: one run of `purge_due_leads` under the job's lock, with residue cleanup."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from jobs.runner import Interrupted, RunOutcome, run_job
from retention import clock
from retention.config import Settings
from retention.services.audit import publish_head
from retention.services.purge import BatchProgress, PurgeResult, purge_due_leads
from retention.storage.dialect import concurrent_workers
from retention.storage.residue import ResidueReport, clean_residue

__all__ = ["PurgeRun", "publish_run_head", "purge_job"]

logger = logging.getLogger(__name__)

CHANGED_TABLES = ("leads", "lead_subjects")


@dataclass(frozen=True, slots=True)
class PurgeRun:
    outcome: RunOutcome
    result: PurgeResult | None
    residue: ResidueReport | None
    anchor_error: str | None = None  # the head could not be published (exit 1)


def _counts(result: PurgeResult, residue: ResidueReport | None) -> dict[str, Any]:
    return {
        "deleted": result.deleted,
        "hold_skipped": result.hold_skipped,
        "batches": result.batches,
        "by_rule": result.by_rule,
        "residue": residue.as_dict() if residue else None,
    }


def purge_job(
    settings: Settings,
    engine: Engine,
    *,
    dry_run: bool = False,
    force: bool = False,
    batch_size: int | None = None,
    limit: int | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> PurgeRun:
    now = clock.utcnow()
    state: dict[str, Any] = {}

    def body(run_id: int) -> tuple[dict[str, Any], PurgeResult]:
        result = purge_due_leads(
            settings, engine, now=now, run_id=run_id, dry_run=dry_run, force=force,
            batch_size=batch_size, limit=limit, on_batch=on_batch, should_stop=should_stop,
            timer=time.perf_counter,
        )  # fmt: skip
        state["result"] = result
        if result.deleted and not dry_run:
            state["residue"] = clean_residue(engine, CHANGED_TABLES, vacuum=settings.purge.vacuum)
        counts = _counts(result, state.get("residue"))
        if result.stopped:
            raise Interrupted(counts)
        return counts, result

    workers = concurrent_workers(engine, settings.purge.workers)
    outcome = run_job(engine, "purge", body, now=now, dry_run=dry_run, workers=workers)
    result: PurgeResult | None = state.get("result")
    if result is not None:
        verb = "would delete" if dry_run else "deleted"
        logger.info(
            "purge run %d %s: %s %d (ttl %d, ceiling %d), %d held, %d batches; audit head %s",
            outcome.run_id, outcome.status, verb, result.deleted, result.by_rule["ttl"],
            result.by_rule["ceiling"], result.hold_skipped, result.batches, outcome.head,
            extra={"run_id": outcome.run_id, "job": "purge"},
        )  # fmt: skip
    return PurgeRun(outcome, result, state.get("residue"), publish_run_head(settings, outcome))


def publish_run_head(settings: Settings, outcome: RunOutcome) -> str | None:
    """Publish the head a run left (its summary line carries it); None, or why the anchor
    file could not be written. A skipped run or a dry run appended nothing."""
    if outcome.head is None or outcome.dry_run or outcome.status == "skipped":
        return None
    return publish_head(
        settings, outcome.head, source=outcome.job, run_id=outcome.run_id,
        when=clock.utcnow(), log=False,
    )  # fmt: skip

"""The erasure job: one run of `process_requests` under the job's lock, with residue cleanup."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from jobs.purge import publish_run_head
from jobs.runner import Interrupted, RunFailed, RunOutcome, run_job
from retention import clock
from retention.config import Settings
from retention.services.erasure import (
    CHANGED_TABLES,
    BatchProgress,
    ErasureResult,
    process_requests,
)
from retention.storage.residue import ResidueReport, clean_residue, residue_pending

__all__ = ["ErasureRun", "erasure_job"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ErasureRun:
    outcome: RunOutcome
    result: ErasureResult | None
    residue: ResidueReport | None
    anchor_error: str | None = None  # the head could not be published (exit 1)


def erasure_job(
    settings: Settings,
    engine: Engine,
    *,
    dry_run: bool = False,
    on_batch: Callable[[BatchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ErasureRun:
    """Carry out the queued erasure requests, oldest first. The run fails (exit 1) when a
    request failed its verification; the others are done all the same."""
    now = clock.utcnow()
    state: dict[str, Any] = {}

    def body(run_id: int) -> tuple[dict[str, Any], ErasureResult]:
        changed = True  # until known otherwise: batches before a failure are committed
        try:
            result = process_requests(
                settings, engine, now=now, run_id=run_id, dry_run=dry_run, on_batch=on_batch,
                should_stop=should_stop,
            )  # fmt: skip
            changed = bool(result.leads_erased or result.completed)
        finally:
            # Also when this run erased nothing itself: `retention erase` and imports leave
            # PostgreSQL's dead rows to this job.
            if not dry_run and (changed or residue_pending(engine, CHANGED_TABLES)):
                state["residue"] = clean_residue(
                    engine, CHANGED_TABLES, vacuum=settings.erasure.vacuum
                )
        state["result"] = result
        counts: dict[str, Any] = {**result.counts(), "residue": _residue(state)}
        if result.stopped:
            raise Interrupted(counts)
        if result.failed:
            raise RunFailed(f"{result.failed} erasure request(s) failed verification", counts)
        return counts, result

    outcome = run_job(engine, "erasure", body, now=now, dry_run=dry_run)
    result: ErasureResult | None = state.get("result")
    if result is not None:
        logger.info(
            "erasure run %d %s: %d requests (%d completed, %d deferred, %d failed), "
            "%d leads erased, %d held; audit head %s",
            outcome.run_id, outcome.status, result.requests, result.completed, result.deferred,
            result.failed, result.leads_erased, result.hold_skipped, outcome.head,
            extra={"run_id": outcome.run_id, "job": "erasure"},
        )  # fmt: skip
    anchor_error = publish_run_head(settings, outcome)
    return ErasureRun(outcome, result, state.get("residue"), anchor_error)


def _residue(state: dict[str, Any]) -> dict[str, object] | None:
    residue: ResidueReport | None = state.get("residue")
    return residue.as_dict() if residue else None

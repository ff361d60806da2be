"""The erasure job: one run of `process_requests` under the job's lock, with residue cleanup."""

from __future__ import annotations

import logging
from typing import Any, Unpack

from sqlalchemy import Engine

from jobs.runner import Interrupted, JobRun, RunArgs, RunFailed, run_job, timed_phase
from retention import clock
from retention.config import Settings
from retention.services.erasure import ErasureResult, erasure_has_work, process_requests
from retention.services.residue import ERASURE_TABLES, clean_after

__all__ = ["ErasureRun", "erasure_job"]

logger = logging.getLogger(__name__)

ErasureRun = JobRun[ErasureResult]


def erasure_job(settings: Settings, engine: Engine, **run: Unpack[RunArgs]) -> ErasureRun:
    """Carry out the queued erasure requests, oldest first. The run fails (exit 1) when a
    request failed its verification; the others are done all the same."""
    now = clock.utcnow()
    state: dict[str, Any] = {}
    dry_run, observer = run.get("dry_run", False), run.get("observer")

    def body(run_id: int) -> tuple[dict[str, Any], ErasureResult]:
        changed = True  # until known otherwise: batches before a failure are committed
        try:
            with timed_phase(observer, "erasure", "work"):
                result = process_requests(
                    settings, engine, now=now, run_id=run_id, dry_run=dry_run,
                    observer=observer, should_stop=run.get("should_stop"),
                )  # fmt: skip
            changed = bool(result.leads_erased or result.completed)
        finally:
            # Also when this run erased nothing itself: `retention erase` and imports leave
            # PostgreSQL's dead rows to this job.
            if not dry_run:
                with timed_phase(observer, "erasure", "residue"):
                    state["residue"] = clean_after(
                        engine, ERASURE_TABLES, changed=changed, sweep=True,
                        vacuum=settings.erasure.vacuum,
                    )  # fmt: skip
        state["result"] = result
        residue = state.get("residue")
        counts: dict[str, Any] = {
            **result.counts(), "residue": residue.as_dict() if residue else None
        }  # fmt: skip
        if result.stopped:
            raise Interrupted(counts)
        if result.failed:
            raise RunFailed(f"{result.failed} erasure request(s) failed verification", counts)
        return counts, result

    look_first = run.get("check_first", False)
    outcome = run_job(
        settings, engine, "erasure", body, now=now, dry_run=dry_run, observer=observer,
        has_work=(lambda: erasure_has_work(engine)) if look_first else None,
    )  # fmt: skip
    result: ErasureResult | None = state.get("result")
    if result is not None:
        logger.info(
            "erasure run %d %s: %d requests (%d completed, %d deferred, %d failed), "
            "%d leads erased, %d held; audit head %s",
            outcome.run_id, outcome.status, result.requests, result.completed, result.deferred,
            result.failed, result.leads_erased, result.hold_skipped, outcome.head,
            extra={"run_id": outcome.run_id, "job": "erasure"},
        )  # fmt: skip
    return JobRun(outcome, result, state.get("residue"))

"""`retention run erasure`: carry out the queued erasure requests."""

from __future__ import annotations

from typing import Any

from jobs.erasure import ErasureRun, erasure_job
from retention.cli.app import App
from retention.cli.output import head_json
from retention.cli.runs import run_job_command
from retention.services.erasure_outcomes import COUNTS

__all__ = ["ERASURE_KEYS", "run_erasure"]

ERASURE_KEYS = (
    "run_id", "status", "dry_run", "requests", "completed", "deferred", "failed",
    "leads_erased", "hold_skipped", "batches", "sample_lead_ids", "audit_head", "residue",
)  # fmt: skip


def run_erasure(app: App, *, dry_run: bool, as_json: bool, check_first: bool = False) -> None:
    run_job_command(
        app, erasure_job, _render, as_json=as_json, dry_run=dry_run, check_first=check_first
    )


def _render(run: ErasureRun) -> tuple[dict[str, Any], list[str]]:
    outcome, result = run.outcome, run.result
    counts = result.counts() if result else {}
    document: dict[str, Any] = {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "dry_run": outcome.dry_run,
        **{name: counts.get(name, 0) for name in COUNTS},
        "sample_lead_ids": list(result.sample_lead_ids) if result else [],
        "audit_head": head_json(outcome.head),
        "residue": run.residue.as_dict() if run.residue else None,
    }
    if outcome.status == "skipped":
        return document, [
            f"erasure run {outcome.run_id} skipped: another erasure run holds the lock"
        ]
    if outcome.status == "idle":
        return document, ["erasure: nothing to do (checked; no run recorded)"]
    verb = "would erase" if outcome.dry_run else "erased"
    lines = [
        (
            f"erasure run {outcome.run_id} {outcome.status}: {document['requests']} requests "
            f"({document['completed']} completed, {document['deferred']} deferred, "
            f"{document['failed']} failed), {verb} {document['leads_erased']} leads, "
            f"{document['hold_skipped']} held"
        )
    ]
    if outcome.head is not None:
        lines.append(f"audit head {outcome.head}")
    return document, lines

"""`retention run erasure`: carry out the queued erasure requests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from jobs.erasure import ErasureRun, erasure_job
from jobs.signals import stop_requested_on_signals
from retention.cli.app import App
from retention.cli.output import echo_json, head_json
from retention.services.erasure import BatchProgress

__all__ = ["ERASURE_KEYS", "run_erasure"]

ERASURE_KEYS = (
    "run_id", "status", "dry_run", "requests", "completed", "deferred", "failed",
    "leads_erased", "hold_skipped", "batches", "sample_lead_ids", "audit_head", "residue",
)  # fmt: skip


def _progress(enabled: bool) -> Callable[[BatchProgress], None] | None:
    if not enabled:
        return None

    def show(progress: BatchProgress) -> None:
        click.echo(
            f"\rerasure: {progress.requests} requests, {progress.leads_erased} leads erased, "
            f"batch {progress.batch}",
            err=True,
            nl=False,
        )

    return show


def run_erasure(app: App, *, dry_run: bool, as_json: bool) -> None:
    engine = app.store()
    progress = _progress(not as_json and sys.stderr.isatty())
    with stop_requested_on_signals() as stop:
        run = erasure_job(
            app.settings, engine, dry_run=dry_run, on_batch=progress, should_stop=stop.is_set
        )
    if progress is not None:
        click.echo("", err=True)
    code, error = _exit(run)
    _render(run, as_json, error=error, code=code)
    if code:
        raise click.exceptions.Exit(code)


def _exit(run: ErasureRun) -> tuple[int, str | None]:
    if run.outcome.status == "failed":
        return 1, run.outcome.error
    if run.outcome.status == "interrupted":
        return 1, "interrupted by a signal after the batch in flight; the next run goes on"
    if run.anchor_error is not None:
        return 1, run.anchor_error
    return 0, None


def _render(run: ErasureRun, as_json: bool, *, error: str | None, code: int) -> None:
    outcome, result = run.outcome, run.result
    head = outcome.head
    counts = result.counts() if result else {}
    document: dict[str, Any] = {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "dry_run": outcome.dry_run,
        "requests": counts.get("requests", 0),
        "completed": counts.get("completed", 0),
        "deferred": counts.get("deferred", 0),
        "failed": counts.get("failed", 0),
        "leads_erased": counts.get("leads_erased", 0),
        "hold_skipped": counts.get("hold_skipped", 0),
        "batches": counts.get("batches", 0),
        "sample_lead_ids": list(result.sample_lead_ids) if result else [],
        "audit_head": head_json(head),
        "residue": run.residue.as_dict() if run.residue else None,
    }
    if as_json:
        echo_json(document, error=error, exit_code=code)
        return
    if outcome.status == "skipped":
        click.echo(f"erasure run {outcome.run_id} skipped: another erasure run holds the lock")
        return
    verb = "would erase" if outcome.dry_run else "erased"
    click.echo(
        f"erasure run {outcome.run_id} {outcome.status}: {document['requests']} requests "
        f"({document['completed']} completed, {document['deferred']} deferred, "
        f"{document['failed']} failed), {verb} {document['leads_erased']} leads, "
        f"{document['hold_skipped']} held"
    )
    if head is not None:
        click.echo(f"audit head {head}")
    if error is not None:
        click.echo(f"error: {error}", err=True)

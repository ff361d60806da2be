"""`retention run erasure`: carry out the queued erasure requests."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from jobs.erasure import ErasureRun, erasure_job
from jobs.signals import stop_requested_on_signals
from retention.cli.app import App
from retention.cli.output import echo_json
from retention.services.erasure import BatchProgress

__all__ = ["run_erasure"]


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
    _render(run, as_json)
    if run.outcome.status in ("failed", "interrupted"):
        raise click.exceptions.Exit(1)


def _render(run: ErasureRun, as_json: bool) -> None:
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
        "audit_head": {"event_id": head.event_id, "hash": head.hash} if head else None,
        "residue": run.residue.as_dict() if run.residue else None,
        "error": outcome.error,
    }
    if as_json:
        echo_json(document)
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
    if outcome.error:
        click.echo(f"error: {outcome.error}", err=True)
    if head is not None:
        click.echo(f"audit head {head}")

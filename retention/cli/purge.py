"""`retention purge` and `retention run purge`."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from jobs.purge import PurgeRun, purge_job
from jobs.signals import stop_requested_on_signals
from retention.cli.app import App, pass_app
from retention.cli.output import dry_run_option, echo_json, head_json, json_option
from retention.services.purge import BatchProgress

__all__ = ["PURGE_KEYS", "purge", "run_purge"]

PURGE_KEYS = (
    "run_id", "status", "dry_run", "deleted", "hold_skipped", "batches", "by_rule",
    "sample_lead_ids", "audit_head", "residue",
)  # fmt: skip


def _progress(enabled: bool) -> Callable[[BatchProgress], None] | None:
    """A one-line progress display on a terminal; nothing otherwise."""
    if not enabled:
        return None

    def show(progress: BatchProgress) -> None:
        total = max(progress.due, 1)
        done = progress.deleted + progress.hold_skipped
        click.echo(
            f"\rpurge: {progress.deleted} deleted, {progress.hold_skipped} held, "
            f"batch {progress.batch} ({min(done / total, 1):.0%})",
            err=True,
            nl=False,
        )

    return show


def run_purge(
    app: App,
    *,
    dry_run: bool,
    as_json: bool,
    force: bool = False,
    batch_size: int | None = None,
    limit: int | None = None,
) -> None:
    engine = app.store()
    progress = _progress(not as_json and sys.stderr.isatty())
    with stop_requested_on_signals() as stop:
        run = purge_job(
            app.settings, engine, dry_run=dry_run, force=force, batch_size=batch_size,
            limit=limit, on_batch=progress, should_stop=stop.is_set,
        )  # fmt: skip
    if progress is not None:
        click.echo("", err=True)
    code, error = _exit(run)
    _render(run, as_json, error=error, code=code)
    if code:
        raise click.exceptions.Exit(code)


def _exit(run: PurgeRun) -> tuple[int, str | None]:
    if run.outcome.status == "interrupted":
        return 1, "interrupted by a signal after the batch in flight; the next run goes on"
    if run.anchor_error is not None:
        return 1, run.anchor_error
    return 0, None


def _render(run: PurgeRun, as_json: bool, *, error: str | None, code: int) -> None:
    outcome, result = run.outcome, run.result
    head = outcome.head
    document: dict[str, Any] = {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "dry_run": outcome.dry_run,
        "deleted": result.deleted if result else 0,
        "hold_skipped": result.hold_skipped if result else 0,
        "batches": result.batches if result else 0,
        "by_rule": result.by_rule if result else {},
        "sample_lead_ids": list(result.sample_lead_ids) if result else [],
        "audit_head": head_json(head),
        "residue": run.residue.as_dict() if run.residue else None,
    }
    if as_json:
        echo_json(document, error=error, exit_code=code)
        return
    if outcome.status == "skipped":
        click.echo(f"purge run {outcome.run_id} skipped: another purge run holds the lock")
        return
    verb = "would delete" if outcome.dry_run else "deleted"
    rules = document["by_rule"]
    click.echo(
        f"purge run {outcome.run_id} {outcome.status}: {verb} {document['deleted']} leads "
        f"(ttl {rules.get('ttl', 0)}, ceiling {rules.get('ceiling', 0)}), "
        f"{document['hold_skipped']} held, {document['batches']} batches"
    )
    if document["sample_lead_ids"]:
        click.echo("lead ids: " + ", ".join(document["sample_lead_ids"]))
    if head is not None:
        click.echo(f"audit head {head}")
    if error is not None:
        click.echo(f"error: {error}", err=True)


@click.command()
@dry_run_option
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    help="Leads per transaction (config purge.batch_size).",
)
@click.option("--limit", type=click.IntRange(min=1), help="Delete at most this many leads.")
@click.option(
    "--force",
    is_flag=True,
    help="Run even if the blast-radius guard or the clock check refuses (this run only).",
)
@json_option(*PURGE_KEYS)
@pass_app
def purge(
    app: App, dry_run: bool, batch_size: int | None, limit: int | None, force: bool, as_json: bool
) -> None:
    """Delete every lead past its TTL or the retention ceiling, with an audit event each.

    Runs in batches, one transaction each; held leads are skipped and audited. Refuses (exit 1,
    nothing deleted) when more than the configured share of the store and more than the
    configured number of leads would go (retention.guard_max_share and guard_max_leads), or
    when the clock is earlier than the newest time this tool recorded; --force overrides
    both for one run. SIGTERM or Ctrl-C stops after the batch in flight (exit 1). A run that
    finds another purge running exits 0.
    """
    run_purge(
        app, dry_run=dry_run, as_json=as_json, force=force, batch_size=batch_size, limit=limit
    )

"""`retention purge` and `retention run purge`."""

from __future__ import annotations

from typing import Any

import click

from jobs.purge import PurgeRun, purge_job
from retention.cli.app import App, pass_app
from retention.cli.options import dry_run_option, json_option
from retention.cli.output import head_json
from retention.cli.runs import run_job_command

__all__ = ["PURGE_KEYS", "purge", "run_purge"]

PURGE_KEYS = (
    "run_id", "status", "dry_run", "deleted", "hold_skipped", "batches", "by_rule",
    "sample_lead_ids", "audit_head", "residue",
)  # fmt: skip


def run_purge(
    app: App,
    *,
    dry_run: bool,
    as_json: bool,
    force: bool = False,
    batch_size: int | None = None,
    limit: int | None = None,
    check_first: bool = False,
) -> None:
    run_job_command(
        app, purge_job, _render, as_json=as_json, dry_run=dry_run, force=force,
        batch_size=batch_size, limit=limit, check_first=check_first,
    )  # fmt: skip


def _render(run: PurgeRun) -> tuple[dict[str, Any], list[str]]:
    outcome, result = run.outcome, run.result
    document: dict[str, Any] = {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "dry_run": outcome.dry_run,
        "deleted": result.deleted if result else 0,
        "hold_skipped": result.hold_skipped if result else 0,
        "batches": result.batches if result else 0,
        "by_rule": result.by_rule if result else {},
        "sample_lead_ids": list(result.sample_lead_ids) if result else [],
        "audit_head": head_json(outcome.head),
        "residue": run.residue.as_dict() if run.residue else None,
    }
    if outcome.status == "skipped":
        return document, [f"purge run {outcome.run_id} skipped: another purge run holds the lock"]
    if outcome.status == "idle":
        return document, ["purge: nothing due (checked; no run recorded)"]
    verb = "would delete" if outcome.dry_run else "deleted"
    rules = document["by_rule"]
    lines = [
        (
            f"purge run {outcome.run_id} {outcome.status}: {verb} {document['deleted']} leads "
            f"(ttl {rules.get('ttl', 0)}, ceiling {rules.get('ceiling', 0)}), "
            f"{document['hold_skipped']} held, {document['batches']} batches"
        )
    ]
    if document["sample_lead_ids"]:
        lines.append("lead ids: " + ", ".join(document["sample_lead_ids"]))
    if outcome.head is not None:
        lines.append(f"audit head {outcome.head}")
    return document, lines


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

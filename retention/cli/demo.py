"""`retention demo`: see the tool work on synthetic leads, with nothing to set up."""

from __future__ import annotations

from pathlib import Path

import click

from jobs.demo import run_demo
from retention.cli.app import App, pass_app
from retention.cli.options import json_option
from retention.cli.output import echo_json

__all__ = ["demo"]


@click.command()
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("retention-demo.db"),
    show_default=True,
    help="SQLite file of the demo store; rebuilt on every run, never a real store.",
)
@click.option(
    "--leads", type=click.IntRange(min=10), default=5000, show_default=True,
    help="How many synthetic leads to generate.",
)  # fmt: skip
@json_option(
    "path", "leads_before", "leads_after", "guard_refused_first_run", "deleted", "by_rule",
    "hold_skipped", "run_id", "erasure", "erased_on_import", "audit_chain_ok", "audit_head",
)  # fmt: skip
@pass_app
def demo(app: App, path: Path, leads: int, as_json: bool) -> None:
    """Build a demo SQLite store of synthetic leads spanning four years, purge and erase.

    Some leads are past their TTL, some carry a wrong TTL that the 3-year ceiling catches, two
    are under legal hold. The first purge of such an old store trips the blast-radius guard,
    so the demo shows the refusal and runs again with --force, as an operator would. Then
    four seekers ask for erasure (one has no leads, one is under a hold) and the erasure job
    carries the requests out; a later lead of an erased seeker is stored erased on import.
    """
    report = run_demo(app.settings, path, leads=leads)
    result, outcome = report.purge.result, report.purge.outcome
    assert result is not None
    if as_json:
        echo_json(
            {
                "path": str(report.path),
                "leads_before": report.before.total,
                "leads_after": report.after.total,
                "guard_refused_first_run": report.guard_refusal is not None,
                "deleted": result.deleted,
                "by_rule": result.by_rule,
                "hold_skipped": result.hold_skipped,
                "run_id": outcome.run_id,
                "erasure": {
                    **(report.erasure.result.counts() if report.erasure.result else {}),
                    "run_id": report.erasure.outcome.run_id,
                    "status": report.erasure.outcome.status,
                },
                "erased_on_import": report.suppressed_on_import,
                "audit_chain_ok": report.chain.ok,
                "audit_head": str(report.chain.head),
            }
        )
        return
    click.echo(f"demo store {report.path}: {report.before.total} synthetic leads over four years")
    if report.guard_refusal:
        click.echo(f"first purge refused by the guard: {report.guard_refusal.split('. ')[0]}")
        click.echo("checked, it is an old store: purging again with --force")
    click.echo(
        f"purge run {outcome.run_id} {outcome.status}: {result.deleted} leads deleted "
        f"({result.by_rule['ttl']} past their TTL, {result.by_rule['ceiling']} past the "
        f"3-year ceiling), {result.hold_skipped} kept under legal hold, {result.batches} batches"
    )
    erasure = report.erasure.result
    if erasure is not None:
        click.echo(
            f"erasure run {report.erasure.outcome.run_id} {report.erasure.outcome.status}: "
            f"{erasure.requests} requests ({erasure.completed} completed, one of them for a "
            f"seeker with no leads; {erasure.deferred} deferred by a legal hold), "
            f"{erasure.leads_erased} leads erased"
        )
    click.echo(
        f"a new lead of an erased seeker imported: stored erased ({report.suppressed_on_import})"
    )
    click.echo(f"leads in store: {report.before.total} -> {report.after.total}")
    state = "ok" if report.chain.ok else f"BROKEN at event {report.chain.first_bad_event}"
    click.echo(f"audit chain {state}: {report.chain.events} events, head {report.chain.head}")
    click.echo(f"try: retention --database-url sqlite:///{report.path} requests list")

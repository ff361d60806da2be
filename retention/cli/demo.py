"""`retention demo`: see the tool work on synthetic leads, with nothing to set up."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from jobs.demo import DEMO_DAYS, DemoReport, run_demo
from retention.cli.app import App, pass_app
from retention.cli.options import json_option
from retention.cli.output import echo_json
from retention.reports.render_text import render_text

__all__ = ["demo"]


@click.command()
@click.option(
    "--path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("retention-demo.db"),
    show_default=True,
    help="SQLite file of the demo store; rebuilt on every run, never a real store. The HTML "
    "report goes beside it (<name>-report.html).",
)
@click.option(
    "--leads", type=click.IntRange(min=10), default=5000, show_default=True,
    help="How many synthetic leads to generate.",
)  # fmt: skip
@json_option(
    "path", "leads_before", "leads_after", "guard_refused_first_run", "deleted", "by_rule",
    "hold_skipped", "run_id", "purged_daily", "erasure", "erased_on_import", "audit_chain_ok",
    "audit_head", "restore", "report_html",
)  # fmt: skip
@pass_app
def demo(app: App, path: Path, leads: int, as_json: bool) -> None:
    """Play a month of the tool on a demo SQLite store of synthetic leads spanning four
    years, then print the compliance report and write it as HTML.

    Some leads are past their TTL, some carry a wrong TTL that the 3-year ceiling catches, two
    are under legal hold. On the month's first day the first purge of such an old store trips
    the blast-radius guard, so the demo shows the refusal and runs again with --force, as an
    operator would. Every day the purge and the erasure jobs run; seekers ask for erasure over
    the month (one has no leads, one is under a hold and stays deferred), a later lead of an
    erased seeker is stored erased on import, and on the last day a request received forty
    days ago is typed in: overdue. A backup taken on the third day is then restored beside
    the store and replayed from the demo's audit journal (a disaster drill). Takes a few
    seconds.
    """
    report = run_demo(app.settings, path, leads=leads)
    first = report.first_purge.result
    assert first is not None
    erasures = Counter[str]()  # over the month's runs
    for run in report.erasure_runs:
        if run.result is not None:
            erasures.update(completed=run.result.completed, leads_erased=run.result.leads_erased)
    if as_json:
        echo_json(
            {
                "path": str(report.path),
                "leads_before": report.before.total,
                "leads_after": report.after.total,
                "guard_refused_first_run": report.guard_refusal is not None,
                "deleted": first.deleted,
                "by_rule": first.by_rule,
                "hold_skipped": first.hold_skipped,
                "run_id": report.first_purge.outcome.run_id,
                "purged_daily": report.purged_daily,
                "erasure": {
                    "runs": len(report.erasure_runs),
                    "completed": erasures["completed"],
                    "leads_erased": erasures["leads_erased"],
                    "deferred_now": report.report.erasure_requests.deferred,
                    "overdue_now": report.report.erasure_requests.overdue,
                },
                "erased_on_import": report.suppressed_on_import,
                "audit_chain_ok": report.chain.ok,
                "audit_head": str(report.chain.head),
                "restore": _restore_document(report),
                "report_html": str(report.html),
            }
        )
        return
    _tell(report, erasures)


def _restore_document(report: DemoReport) -> dict[str, object]:
    story = report.restore
    return {
        "backup_day": story.backup_day,
        "refused_before_replay": story.refused is not None,
        "events_restored": story.replay.events_restored,
        "purged": story.replay.purged,
        "erased": story.replay.erased,
        "suppressions": story.replay.suppressions,
        "verified_against_anchors": story.anchors if story.verified.ok else 0,
        "lead_checked": story.lead_id,
        "lead_had_data": story.had_data,
        "lead_has_data": story.has_data,
    }


def _tell_restore(report: DemoReport) -> None:
    story, replay = report.restore, report.restore.replay
    data = {True: "with its contact data", False: "erased", None: "gone"}
    click.echo(
        f"disaster drill: the backup of day {story.backup_day} restored beside the store; "
        f"lead {story.lead_id}, erased since, is back {data[story.had_data]}"
    )
    click.echo(f"  the guard refuses to run on it: {story.refused.split(';')[0]}")
    click.echo(
        f"  retention replay: {replay.events_restored} events restored from the journal, "
        f"{replay.purged} leads purged and {replay.erased} erased again, "
        f"{replay.suppressions} suppression entries back; lead {story.lead_id} "
        f"{data[story.has_data]}"
    )
    verdict = "ok" if story.verified.ok else f"BROKEN at event {story.verified.first_bad_event}"
    click.echo(
        f"  audit verify against the {story.anchors} anchors published before the restore: "
        f"{verdict}"
    )


def _tell(report: DemoReport, erasures: Counter[str]) -> None:
    first = report.first_purge
    assert first.result is not None
    click.echo(f"demo store {report.path}: {report.before.total} synthetic leads over four years;"
               f" a month of daily runs ({DEMO_DAYS} days) follows")  # fmt: skip
    if report.guard_refusal:
        click.echo(
            f"day 1: first purge refused by the guard: {report.guard_refusal.split('. ')[0]}"
        )
        click.echo("day 1: checked, it is an old store: purging again with --force")
    click.echo(
        f"day 1: purge run {first.outcome.run_id} {first.outcome.status}: "
        f"{first.result.deleted} leads deleted ({first.result.by_rule['ttl']} past their TTL, "
        f"{first.result.by_rule['ceiling']} past the 3-year ceiling), "
        f"{first.result.hold_skipped} kept under legal hold"
    )
    click.echo(
        f"days 2 to {DEMO_DAYS}: {report.purged_daily} more leads deleted, each on the day its TTL"
        " passed (the daily purge)"
    )
    click.echo(
        f"erasure requests over the month: {erasures['completed']} completed (one for a seeker "
        f"with no leads), {report.report.erasure_requests.deferred} deferred by a legal hold, "
        f"{erasures['leads_erased']} leads erased;"
        f" a new lead of an erased seeker stored erased ({report.suppressed_on_import})"
    )
    click.echo("last day: a request received by post forty days ago is typed in: overdue")
    click.echo(f"leads in store: {report.before.total} -> {report.after.total}")
    state = "ok" if report.chain.ok else f"BROKEN at event {report.chain.first_bad_event}"
    click.echo(f"audit chain {state}: {report.chain.events} events, head {report.chain.head}")
    _tell_restore(report)
    click.echo("")
    click.echo(render_text(report.report), nl=False)
    click.echo("")
    click.echo(f"HTML report written to {report.html}")
    click.echo(f"try: retention --database-url sqlite:///{report.path} requests list")

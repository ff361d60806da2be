"""`retention report`: the compliance report for a period."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from jobs.registry import JOBS
from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.dates import SINCE, WHEN
from retention.config.checks import REPORT_FORMATS
from retention.reports.formats import RENDERERS
from retention.services.report import build_report, default_period
from retention.services.report_files import write_atomically

__all__ = ["report"]


@click.command()
@click.option("--since", type=SINCE, help="Start: a date (from its start, UTC) or a date-time.")
@click.option("--until", type=WHEN, help="End: a date (through its end, UTC) or a date-time.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(REPORT_FORMATS),
    default="text",
    show_default=True,
    help="text for a terminal, json or csv for tools, html for people (one self-contained "
    "page with charts, printable).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the report to this file (atomically) instead of stdout.",
)
@pass_app
def report(
    app: App, since: datetime | None, until: datetime | None, fmt: str, output: Path | None
) -> None:
    """The compliance report for a period (default: the 30 days up to the end of today,
    UTC): leads purged and erased, erasure requests against their deadline, backlog, legal
    holds, job runs, the audit chain's state and the policy in force. No personal data in
    any format. The same store and clock give the same bytes.

    Exit 1 when the audit chain is broken (the report, which says so, is printed all the
    same).
    """
    now = clock.utcnow()
    period = default_period(now, since=since, until=until)
    built = build_report(app.settings, app.store(), period, now=now, jobs=tuple(JOBS))
    text = RENDERERS[fmt](built)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_atomically(output, text)
        click.echo(f"report {period.label()} written to {output}", err=True)
    chain = built.audit_chain
    if not chain.ok:
        click.echo(
            f"error: audit chain broken at event {chain.first_bad_event}: {chain.problem}",
            err=True,
        )
        raise click.exceptions.Exit(1)

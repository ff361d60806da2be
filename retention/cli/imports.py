"""`retention import`: leads from upstream files or stdin."""

from __future__ import annotations

import sys

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.options import dry_run_option, json_option
from retention.cli.output import anchor_error, conclude, head_line, published_head
from retention.services.importing import import_leads
from retention.services.lead_sources import check_readable, read_records

__all__ = ["import_command"]

IMPORT_KEYS = (
    "imported", "updated", "rejected", "erased_on_import", "hold_skipped",
    "expired_on_arrival", "dry_run", "written", "errors", "audit_head",
)  # fmt: skip


@click.command(name="import")
@click.argument("paths", nargs=-1, required=True, metavar="PATH... | -")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Write the valid leads and list the invalid ones (exit code 2 still).",
)
@dry_run_option
@json_option(*IMPORT_KEYS)
@pass_app
def import_command(
    app: App, paths: tuple[str, ...], skip_invalid: bool, dry_run: bool, as_json: bool
) -> None:
    """Import leads: a paginatedResultSet page, a JSON array, one lead object or JSON Lines.

    The form is detected from the content; `-` reads stdin. Leads are upserted by lead id.
    Without --skip-invalid one invalid record means nothing is written (exit 2). A lead
    already due on arrival, its TTL passed or ingested longer ago than the retention ceiling,
    is not stored (expired_on_arrival).
    """
    check_readable(list(paths))
    engine = app.store()
    result = import_leads(
        app.settings,
        engine,
        read_records(list(paths), sys.stdin.buffer),
        now=clock.utcnow(),
        dry_run=dry_run,
        skip_invalid=skip_invalid,
    )
    for error in result.errors:
        click.echo(f"invalid: {error}", err=True)
    if result.rejected > len(result.errors):
        click.echo(f"invalid: ... and {result.rejected - len(result.errors)} more", err=True)
    code, failure = 0, None
    if result.rejected:
        code = 2
        failure = (
            f"{result.rejected} invalid record(s): the valid ones were written"
            if result.written
            else f"{result.rejected} invalid record(s): nothing was written; fix them or use "
            "--skip-invalid to import the valid ones"
        )
    elif anchor_error(result.published) is not None:
        code, failure = 1, anchor_error(result.published)
    document = {
        "imported": result.imported,
        "updated": result.updated,
        "rejected": result.rejected,
        "erased_on_import": result.erased_on_import,
        "hold_skipped": result.hold_skipped,
        "expired_on_arrival": result.expired_on_arrival,
        "dry_run": result.dry_run,
        "written": result.written,
        "errors": [str(error) for error in result.errors],
        "audit_head": published_head(result.published),
    }
    prefix = "dry run, nothing written: " if dry_run else ""
    lines = [
        (
            f"{prefix}imported {result.imported}, updated {result.updated}, "
            f"rejected {result.rejected}, erased on import {result.erased_on_import}, "
            f"expired on arrival {result.expired_on_arrival}"
        )
    ]
    lines += head_line(result.published)
    conclude(document, as_json=as_json, lines=lines, error=failure, exit_code=code)

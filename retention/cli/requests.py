"""`retention requests`: queue erasure requests for the erasure job, and list them."""

from __future__ import annotations

from datetime import datetime

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.options import dry_run_option, json_option, subject_options
from retention.cli.output import anchor_error, conclude, head_line, iso, published_head, record
from retention.domain.requests import OPEN_STATUSES, REQUEST_STATUSES
from retention.services.requests import add_request, import_requests, parse_received, requests_of
from retention.services.subjects import SubjectArgs

__all__ = ["requests"]


# Never the clear identifier.
_FIELDS = ("id", "kind", "status", "source", "received_at", "due_at", "completed_at",
           "leads_erased", "reference", "error")  # fmt: skip


@click.group()
def requests() -> None:
    """Queue erasure requests for the `erasure` job (retention run erasure), and list them."""


@requests.command()
@subject_options()
@click.option("--reference", help="Free text kept with the request, e.g. a ticket number.")
@click.option(
    "--received-at",
    metavar="DATE",
    help="When the seeker asked (YYYY-MM-DD or ISO date-time; default now): "
    "the deadline is one calendar month later.",
)
@dry_run_option
@json_option("request_id", "duplicate_of", "due_at", "dry_run", "audit_head")
@pass_app
def add(
    app: App,
    subject: SubjectArgs,
    reference: str | None,
    received_at: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Queue one request; the next erasure run carries it out (oldest first).

    A subject that already has an open request is not queued twice (exit 0, the open
    request's id is shown). --dry-run checks the subject and records nothing.
    """
    now = clock.utcnow()
    received = parse_received(received_at, now=now, where="--received-at") if received_at else None
    queued = add_request(
        app.settings, app.store(), now=now, reference=reference, received_at=received,
        dry_run=dry_run, **subject,
    )  # fmt: skip
    document = {
        "request_id": queued.request_id,
        "duplicate_of": queued.duplicate_of,
        "due_at": iso(queued.due_at),
        "dry_run": queued.dry_run,
        "audit_head": published_head(queued.published),
    }
    if queued.duplicate_of is not None:
        lines = [f"not queued: request {queued.duplicate_of} for this subject is still open"]
    elif queued.dry_run:
        lines = [f"dry run: would queue a request due {iso(queued.due_at)}; nothing recorded"]
    else:
        lines = [f"request {queued.request_id} queued, due {iso(queued.due_at)}"]
        lines += head_line(queued.published)
    error = anchor_error(queued.published)
    conclude(document, as_json=as_json, lines=lines, error=error, exit_code=1 if error else 0)


@requests.command(name="import")
@click.argument("path", type=click.Path(dir_okay=False), metavar="FILE.csv")
@click.option(
    "--region",
    help="Country of phone numbers given without their country code (FR, DE, BE, AT, or "
    "another ISO 3166-1 alpha-2 code; also FRA, DEU, BEL, AUT).",
)
@dry_run_option
@json_option("added", "duplicates", "request_ids", "dry_run", "audit_head")
@pass_app
def import_command(app: App, path: str, region: str | None, dry_run: bool, as_json: bool) -> None:
    """Queue the requests of a CSV file: columns kind,value,received_at,reference.

    kind is email, phone or lead_id; received_at a date or ISO date-time (empty: now). The
    file is queued whole or not at all: a bad row is named by line and column (exit 2).
    Subjects with an open request are skipped as duplicates.
    """
    result = import_requests(
        app.settings, app.store(), path, now=clock.utcnow(), region=region, dry_run=dry_run
    )
    document = {
        "added": result.added,
        "duplicates": result.duplicates,
        "request_ids": list(result.request_ids),
        "dry_run": dry_run,
        "audit_head": published_head(result.published),
    }
    verb = "would queue" if dry_run else "queued"
    lines = [f"{verb} {result.added} requests, {result.duplicates} duplicates skipped"]
    lines += head_line(result.published)
    error = anchor_error(result.published)
    conclude(document, as_json=as_json, lines=lines, error=error, exit_code=1 if error else 0)


@requests.command(name="list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(REQUEST_STATUSES),
    help="Only requests in this status (repeatable).",
)
@click.option("--overdue", is_flag=True, help="Only open requests past their due date.")
@json_option("requests")
@pass_app
def list_command(app: App, statuses: tuple[str, ...], overdue: bool, as_json: bool) -> None:
    """List erasure requests, oldest first (never the seeker's identifier)."""
    now = clock.utcnow()
    rows = requests_of(app.store(), statuses=statuses, overdue_at=now if overdue else None)
    lines = [
        f"{row.id}\t{row.status}{_late(row.status, row.due_at, now)}\t{row.kind}"
        f"\treceived {row.received_at:%Y-%m-%d}\tdue {row.due_at:%Y-%m-%d}"
        f"\t{row.leads_erased} erased\t{row.reference or ''}"
        for row in rows
    ]
    conclude({"requests": [record(row, _FIELDS) for row in rows]}, as_json=as_json, lines=lines)


def _late(status: str, due_at: datetime, now: datetime) -> str:
    return " OVERDUE" if status in OPEN_STATUSES and due_at < now else ""

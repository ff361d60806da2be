"""`retention requests`: queue erasure requests for the erasure job, list them, and show the
evidence of one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.options import dry_run_option, json_option, subject_options
from retention.cli.output import (
    anchor_error,
    conclude,
    head_json,
    head_line,
    iso,
    published_head,
    record,
)
from retention.domain.requests import OPEN_STATUSES, REQUEST_STATUSES
from retention.services.request_evidence import RequestEvidence, request_evidence
from retention.services.requests import add_request, import_requests, parse_received, requests_of
from retention.services.subjects import SubjectArgs

__all__ = ["requests"]


# Never the clear identifier.
_FIELDS = ("id", "kind", "status", "source", "received_at", "due_at", "completed_at",
           "leads_erased", "reference", "error")  # fmt: skip


@click.group()
def requests() -> None:
    """Queue erasure requests for the `erasure` job (retention run erasure), list them, and
    show the evidence of one."""


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


_SHOW_KEYS = ("request", "leads_erased", "lead_ids", "fields", "verification", "held_lead_ids",
              "deferrals", "holds", "events", "audit_head")  # fmt: skip
_REQUEST_FIELDS = ("id", "kind", "subject_hash_prefix", "source", "reference", "status",
                   "received_at", "due_at", "completed_at", "on_time", "overdue",
                   "error")  # fmt: skip
_HOLD_FIELDS = ("id", "lead_id", "subject_kind", "reason", "created_at", "released_at", "active")
_EVENT_FIELDS = ("id", "occurred_at", "action", "lead_id", "run_id", "reason", "hash", "hash_ok")


@requests.command()
@click.argument("request_id", type=int, metavar="ID")
@json_option(*_SHOW_KEYS)
@pass_app
def show(app: App, request_id: int, as_json: bool) -> None:
    """Show the evidence of one request: its dates and status, the leads and fields erased,
    the verification, the legal holds that deferred it, its audit events and the chain head.

    Never the seeker's identifier (the subject is its kind and a prefix of its keyed hash).
    Reads only. An unknown id is exit 2.
    """
    evidence = request_evidence(app.store(), request_id, now=clock.utcnow())
    conclude(_evidence_document(evidence), as_json=as_json, lines=_evidence_lines(evidence))


def _evidence_document(evidence: RequestEvidence) -> dict[str, Any]:
    check = evidence.verification
    return {
        "request": record(evidence.request, _REQUEST_FIELDS),
        "leads_erased": evidence.leads_erased,
        "lead_ids": list(evidence.lead_ids),
        "fields": list(evidence.fields),
        "verification": {
            "result": check.result,
            "leads_verified": check.leads_verified,
            "failures": [record(f, ("event_id", "occurred_at", "leads")) for f in check.failures],
        },
        "held_lead_ids": list(evidence.held_lead_ids),
        "deferrals": [
            record(d, ("event_id", "occurred_at", "held", "leads_erased"))
            for d in evidence.deferrals
        ],
        "holds": [
            {**record(h, _HOLD_FIELDS, until="expires_at"), "lead_ids": list(h.lead_ids)}
            for h in evidence.holds
        ],
        "events": [record(e, _EVENT_FIELDS) for e in evidence.events],
        "audit_head": head_json(evidence.head),
    }


def _evidence_lines(evidence: RequestEvidence) -> list[str]:
    r, check = evidence.request, evidence.verification
    done = "not completed"
    if r.completed_at is not None:
        done = f"completed {iso(r.completed_at)} ({'on time' if r.on_time else 'LATE'})"
    lines = [
        f"erasure request {r.id}: {r.status}{' OVERDUE' if r.overdue else ''}",
        f"subject: {r.kind} (keyed hash {r.subject_hash_prefix}...); source {r.source}"
        + (f"; reference {r.reference}" if r.reference else ""),
        f"received {iso(r.received_at)}, due {iso(r.due_at)}, {done}",
        f"leads erased: {evidence.leads_erased}" + _listed(evidence.lead_ids),
        f"fields erased: {', '.join(evidence.fields) or 'none'}",
        f"verification: {check.result} ({check.leads_verified} lead(s) read back clean)",
    ]
    lines += [
        f"  failed at {iso(f.occurred_at)} (event {f.event_id}): {f.leads} lead(s) kept a value"
        for f in check.failures
    ]
    if r.error:
        lines.append(f"  error: {r.error}")
    lines.append(f"held leads: {len(evidence.held_lead_ids)}" + _listed(evidence.held_lead_ids))
    lines += [
        f"  deferred {iso(d.occurred_at)} (event {d.event_id}): {d.held} lead(s) held"
        for d in evidence.deferrals
    ]
    for h in evidence.holds:
        target = f"lead {h.lead_id}" if h.lead_id else f"{h.subject_kind} subject"
        state = "active" if h.active else (f"released {iso(h.released_at)}" if h.released_at
                                           else f"expired {iso(h.expires_at)}")  # fmt: skip
        lines.append(
            f"  hold {h.id} on {target}, reason: {h.reason}; placed {iso(h.created_at)}, "
            f"{state}; kept {', '.join(h.lead_ids)}"
        )
    lines.append(f"audit events: {len(evidence.events)}")
    lines += [
        f"  {e.id}\t{iso(e.occurred_at)}\t{e.action}\t{e.lead_id or '-'}\t{e.hash}"
        + ("" if e.hash_ok else "\tHASH MISMATCH")
        for e in evidence.events
    ]
    lines.append(f"audit head {evidence.head}")
    return lines


def _listed(ids: tuple[str, ...]) -> str:
    return f" ({', '.join(ids)})" if ids else ""

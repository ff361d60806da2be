"""`retention audit`: the evidence trail."""

from __future__ import annotations

from pathlib import Path

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.options import json_option
from retention.cli.output import conclude, head_json
from retention.errors import InputError
from retention.services.audit import (
    parse_anchor,
    read_anchor_file,
    record_full_walk,
    verify_audit_chain,
)

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """Check the audit trail's hash chain."""


@audit.command()
@click.option(
    "--anchor",
    "anchor_texts",
    metavar="ID:HASH",
    multiple=True,
    help="A chain head published by an earlier run: the chain must still extend it (repeat "
    "for several).",
)
@click.option(
    "--anchors",
    "anchor_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An anchor file (audit.anchor_file): the chain must hold every head it lists.",
)
@json_option("ok", "events", "head", "first_bad_event", "problem", "anchors")
@pass_app
def verify(
    app: App, anchor_texts: tuple[str, ...], anchor_file: Path | None, as_json: bool
) -> None:
    """Walk the hash chain from its first event and name the first event that does not
    match, or the first anchor the chain no longer holds (exit 1 if any). An intact walk is
    remembered in the store: the report's quick check walks on from its head."""
    anchors = read_anchor_file(anchor_file) if anchor_file is not None else {}
    for text in anchor_texts:
        event_id, digest = parse_anchor(text)
        if anchors.setdefault(event_id, digest) != digest:
            raise InputError(f"--anchor: event {event_id} is given two different hashes")
    report = verify_audit_chain(app.store(), anchors=anchors)
    record_full_walk(app.store(), report, clock.utcnow())
    error = None if report.ok else f"audit chain broken at event {report.first_bad_event}"
    document = {
        "ok": report.ok,
        "events": report.events,
        "head": head_json(report.head),
        "first_bad_event": report.first_bad_event,
        "problem": report.problem,
        "anchors": len(anchors),
    }
    if report.ok:
        held = f", {len(anchors)} anchor{'s' if len(anchors) != 1 else ''} held" if anchors else ""
        line = f"audit chain ok: {report.events} events, head {report.head}{held}"
    else:
        line = (
            f"audit chain BROKEN at event {report.first_bad_event}: {report.problem} "
            f"({report.events} events verified before it)"
        )
    # The BROKEN line says it all on a terminal; the document carries the error too.
    conclude(document, as_json=as_json, lines=[line], error=error if as_json else None,
             exit_code=0 if report.ok else 1)  # fmt: skip

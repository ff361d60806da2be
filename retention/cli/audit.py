"""`retention audit`: the evidence trail."""

from __future__ import annotations

import click

from retention.cli.app import App, pass_app
from retention.cli.options import json_option
from retention.cli.output import conclude, head_json
from retention.services.audit import parse_anchor, verify_audit_chain

__all__ = ["audit"]


@click.group()
def audit() -> None:
    """Check the audit trail's hash chain."""


@audit.command()
@click.option(
    "--anchor",
    metavar="ID:HASH",
    help="A chain head published by an earlier run: the chain must still extend it.",
)
@json_option("ok", "events", "head", "first_bad_event", "problem")
@pass_app
def verify(app: App, anchor: str | None, as_json: bool) -> None:
    """Walk the hash chain and name the first event that does not match (exit 1 if any)."""
    anchored = parse_anchor(anchor) if anchor else None
    report = verify_audit_chain(app.store(), anchor=anchored)
    error = None if report.ok else f"audit chain broken at event {report.first_bad_event}"
    document = {
        "ok": report.ok,
        "events": report.events,
        "head": head_json(report.head),
        "first_bad_event": report.first_bad_event,
        "problem": report.problem,
    }
    if report.ok:
        line = f"audit chain ok: {report.events} events, head {report.head}"
    else:
        line = (
            f"audit chain BROKEN at event {report.first_bad_event}: {report.problem} "
            f"({report.events} events verified before it)"
        )
    # The BROKEN line says it all on a terminal; the document carries the error too.
    conclude(document, as_json=as_json, lines=[line], error=error if as_json else None,
             exit_code=0 if report.ok else 1)  # fmt: skip

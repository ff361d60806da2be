"""`retention hold`: legal holds."""

from __future__ import annotations

from datetime import datetime

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.dates import WHEN
from retention.cli.options import dry_run_option, json_option, subject_options
from retention.cli.output import anchor_error, conclude, head_line, published_head, record
from retention.services.holds import all_holds, place_hold, release_hold_by_id
from retention.services.subjects import SubjectArgs
from retention.storage.holds import HoldRow

__all__ = ["hold"]

HOLD_KEYS = ("id", "lead_id", "subject_kind", "reason", "created_at", "until", "released_at")


def _as_dict(row: HoldRow) -> dict[str, object]:
    return record(row, [key for key in HOLD_KEYS if key != "until"], until="expires_at")


@click.group()
def hold() -> None:
    """Place, release and list legal holds (held leads are neither purged nor erased)."""


@hold.command()
@subject_options(hold=True)
@click.option("--reason", required=True, help="Why (e.g. the case or ticket); required.")
@click.option(
    "--until", type=WHEN, help="Expiry: YYYY-MM-DD (through that day, UTC) or a date-time."
)
@dry_run_option
@json_option("hold_id", "dry_run", "lead_in_store", "audit_head")
@pass_app
def place(
    app: App,
    subject: SubjectArgs,
    reason: str,
    until: datetime | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Place a hold on a lead or on a seeker (every lead of the email or phone number).

    A hold on a lead id not in the store is placed all the same (with a warning): it applies
    once the lead is imported. --dry-run checks everything and records nothing.
    """
    placed = place_hold(
        app.settings, app.store(), reason=reason, now=clock.utcnow(), until=until,
        dry_run=dry_run, **subject,
    )  # fmt: skip
    document = {
        "hold_id": placed.hold_id,
        "dry_run": placed.dry_run,
        "lead_in_store": placed.lead_in_store,
        "audit_head": published_head(placed.published),
    }
    if placed.dry_run:
        lines = ["dry run: the hold would be placed; nothing recorded"]
    else:
        lines = [f"hold {placed.hold_id} placed", *head_line(placed.published)]
    error = anchor_error(placed.published)
    conclude(document, as_json=as_json, lines=lines, error=error, exit_code=1 if error else 0)


@hold.command()
@click.argument("hold_id", type=int, metavar="ID")
@dry_run_option
@json_option(*HOLD_KEYS, "changed", "dry_run", "audit_head")
@pass_app
def release(app: App, hold_id: int, dry_run: bool, as_json: bool) -> None:
    """Release a hold; its leads are due again at the next run.

    Releasing a hold released already changes nothing and says so (exit 0). --dry-run
    checks the hold and records nothing.
    """
    released = release_hold_by_id(
        app.settings, app.store(), hold_id, now=clock.utcnow(), dry_run=dry_run
    )
    document = {
        **_as_dict(released.hold),
        "changed": released.changed,
        "dry_run": released.dry_run,
        "audit_head": published_head(released.published),
    }
    if not released.changed:
        when = f"{released.hold.released_at:%Y-%m-%dT%H:%M:%SZ}"
        lines = [f"hold {hold_id} was released already ({when}): nothing changed"]
    elif released.dry_run:
        lines = [f"dry run: hold {hold_id} would be released; nothing recorded"]
    else:
        lines = [f"hold {hold_id} released", *head_line(released.published)]
    error = anchor_error(released.published)
    conclude(document, as_json=as_json, lines=lines, error=error, exit_code=1 if error else 0)


@hold.command(name="list")
@json_option("holds")
@pass_app
def list_command(app: App, as_json: bool) -> None:
    """List every hold, active or released (subjects are shown by kind only)."""
    rows = all_holds(app.store())
    now = clock.utcnow()
    lines = []
    for row in rows:
        target = f"lead {row.lead_id}" if row.lead_id else f"{row.subject_kind} subject"
        active = row.released_at is None and (row.expires_at is None or row.expires_at > now)
        state = "active" if active else ("released" if row.released_at else "expired")
        until = f" until {row.expires_at:%Y-%m-%d %H:%M}Z" if row.expires_at else ""
        lines.append(f"{row.id}\t{state}\t{target}{until}\t{row.reason}")
    conclude({"holds": [_as_dict(row) for row in rows]}, as_json=as_json, lines=lines)

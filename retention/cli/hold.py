"""`retention hold`: legal holds."""

from __future__ import annotations

from datetime import datetime

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.dates import WHEN
from retention.cli.output import dry_run_option, echo_json, head_json, json_option
from retention.services.holds import all_holds, place_hold, release_hold_by_id
from retention.storage.holds import HoldRow

__all__ = ["hold"]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _as_dict(row: HoldRow) -> dict[str, object]:
    return {
        "id": row.id,
        "lead_id": row.lead_id,
        "subject_kind": row.subject_kind,
        "reason": row.reason,
        "created_at": _iso(row.created_at),
        "until": _iso(row.expires_at),
        "released_at": _iso(row.released_at),
    }


@click.group()
def hold() -> None:
    """Place, release and list legal holds (held leads are neither purged nor erased)."""


@hold.command()
@click.option("--lead-id", help="Hold one lead.")
@click.option("--email", help="Hold every lead of this seeker's email (stored as a keyed hash).")
@click.option("--phone", help="Hold every lead of this phone number (stored as a keyed hash).")
@click.option(
    "--region",
    help="Country of a --phone given without its country code: FR, DE, BE, AT (or FRA, DEU, "
    "BEL, AUT), or another ISO 3166-1 alpha-2 code.",
)
@click.option("--reason", required=True, help="Why (e.g. the case or ticket); required.")
@click.option(
    "--until", type=WHEN, help="Expiry: YYYY-MM-DD (through that day, UTC) or a date-time."
)
@dry_run_option
@json_option("hold_id", "dry_run", "lead_in_store", "audit_head")
@pass_app
def place(
    app: App,
    lead_id: str | None,
    email: str | None,
    phone: str | None,
    region: str | None,
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
        lead_id=lead_id, email=email, phone=phone, region=region, dry_run=dry_run,
    )  # fmt: skip
    code = 1 if placed.anchor_error else 0
    if as_json:
        echo_json(
            {
                "hold_id": placed.hold_id,
                "dry_run": placed.dry_run,
                "lead_in_store": placed.lead_in_store,
                "audit_head": head_json(placed.audit_head),
            },
            error=placed.anchor_error,
            exit_code=code,
        )
    elif placed.dry_run:
        click.echo("dry run: the hold would be placed; nothing recorded")
    else:
        click.echo(f"hold {placed.hold_id} placed")
        click.echo(f"audit head {placed.audit_head}")
    if code:
        if not as_json:
            click.echo(f"error: {placed.anchor_error}", err=True)
        raise click.exceptions.Exit(code)


HOLD_KEYS = ("id", "lead_id", "subject_kind", "reason", "created_at", "until", "released_at")


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
    code = 1 if released.anchor_error else 0
    if as_json:
        echo_json(
            {
                **_as_dict(released.hold),
                "changed": released.changed,
                "dry_run": released.dry_run,
                "audit_head": head_json(released.audit_head),
            },
            error=released.anchor_error,
            exit_code=code,
        )
    elif not released.changed:
        moment = released.hold.released_at
        click.echo(f"hold {hold_id} was released already ({moment:%Y-%m-%dT%H:%M:%SZ}): "
                   "nothing changed")  # fmt: skip
    elif released.dry_run:
        click.echo(f"dry run: hold {hold_id} would be released; nothing recorded")
    else:
        click.echo(f"hold {hold_id} released")
        click.echo(f"audit head {released.audit_head}")
    if code:
        if not as_json:
            click.echo(f"error: {released.anchor_error}", err=True)
        raise click.exceptions.Exit(code)


@hold.command(name="list")
@json_option("holds")
@pass_app
def list_command(app: App, as_json: bool) -> None:
    """List every hold, active or released (subjects are shown by kind only)."""
    rows = all_holds(app.store())
    if as_json:
        echo_json({"holds": [_as_dict(row) for row in rows]})
        return
    now = clock.utcnow()
    for row in rows:
        target = f"lead {row.lead_id}" if row.lead_id else f"{row.subject_kind} subject"
        active = row.released_at is None and (row.expires_at is None or row.expires_at > now)
        state = "active" if active else ("released" if row.released_at else "expired")
        until = f" until {row.expires_at:%Y-%m-%d %H:%M}Z" if row.expires_at else ""
        click.echo(f"{row.id}\t{state}\t{target}{until}\t{row.reason}")

"""`retention hold`: legal holds."""

from __future__ import annotations

from datetime import datetime

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.dates import WHEN
from retention.cli.output import echo_json, json_option
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
@click.option("--region", help="Country of a --phone given without +country code (FR, DE, ...).")
@click.option("--reason", required=True, help="Why (e.g. the case or ticket); required.")
@click.option(
    "--until", type=WHEN, help="Expiry: YYYY-MM-DD (through that day, UTC) or a date-time."
)
@json_option
@pass_app
def place(
    app: App,
    lead_id: str | None,
    email: str | None,
    phone: str | None,
    region: str | None,
    reason: str,
    until: datetime | None,
    as_json: bool,
) -> None:
    """Place a hold on a lead or on a seeker (every lead of the email or phone number)."""
    hold_id = place_hold(
        app.settings, app.store(), reason=reason, now=clock.utcnow(), until=until,
        lead_id=lead_id, email=email, phone=phone, region=region,
    )  # fmt: skip
    if as_json:
        echo_json({"hold_id": hold_id})
    else:
        click.echo(f"hold {hold_id} placed")


@hold.command()
@click.argument("hold_id", type=int, metavar="ID")
@json_option
@pass_app
def release(app: App, hold_id: int, as_json: bool) -> None:
    """Release a hold; its leads are due again at the next run."""
    row = release_hold_by_id(app.store(), hold_id, now=clock.utcnow())
    if as_json:
        echo_json(_as_dict(row))
    else:
        click.echo(f"hold {hold_id} released")


@hold.command(name="list")
@json_option
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

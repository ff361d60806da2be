"""`retention erase`: one seeker's erasure request, recorded and carried out at once."""

from __future__ import annotations

from typing import Any

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.output import dry_run_option, echo_json, json_option
from retention.services.erasure import RequestOutcome, erase_subject

__all__ = ["erase", "subject_options"]


def subject_options(func: Any) -> Any:
    """--email / --phone / --lead-id (exactly one) and --region."""
    for option in reversed(
        (
            click.option("--email", help="The seeker's email address (any case, spaces)."),
            click.option(
                "--phone",
                help="The seeker's phone number (+33..., 0033..., or national with --region).",
            ),
            click.option("--lead-id", help="One lead, by its upstream leadId."),
            click.option(
                "--region",
                help="Country of a --phone given without its country code (FR, DE, BE, AT, ...).",
            ),
        )
    ):
        func = option(func)
    return func


@click.command()
@subject_options
@click.option("--reference", help="Free text kept with the request, e.g. a ticket number.")
@dry_run_option
@json_option
@pass_app
def erase(
    app: App,
    email: str | None,
    phone: str | None,
    lead_id: str | None,
    region: str | None,
    reference: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Erase a seeker's contact data now: every lead of the email, phone number or lead id.

    The policy's fields (config erasure.fields) become null and phoneNumbers [] in the columns
    and the stored JSON; the rows are read back and verified. Held leads are skipped and the
    request stays `deferred` until the hold is released (the erasure job then finishes it).
    Exit 1 when the verification fails. --dry-run records nothing and lists which leads and
    which fields would change (never their values).
    """
    outcome = erase_subject(
        app.settings, app.store(), now=clock.utcnow(), email=email, phone=phone,
        lead_id=lead_id, region=region, reference=reference, dry_run=dry_run,
    )  # fmt: skip
    _render(outcome, dry_run=dry_run, as_json=as_json)
    if outcome.status == "failed":
        raise click.exceptions.Exit(1)


def _render(outcome: RequestOutcome, *, dry_run: bool, as_json: bool) -> None:
    document: dict[str, Any] = {
        "request_id": outcome.request_id,
        "status": outcome.status,
        "leads_erased": outcome.erased_now if dry_run else outcome.leads_erased,
        "hold_skipped": outcome.hold_skipped,
        "dry_run": dry_run,
        "lead_ids": list(outcome.lead_ids),
    }
    if dry_run:
        document["fields"] = outcome.fields
    if outcome.error:
        document["error"] = outcome.error
    if not dry_run:
        document["residue"] = outcome.residue.as_dict() if outcome.residue else None
    if as_json:
        echo_json(document)
        return
    if dry_run:
        click.echo(
            f"dry run: would erase {outcome.erased_now} leads, {outcome.hold_skipped} held "
            f"(status would be {outcome.status}); nothing recorded"
        )
        for lead_id, fields in outcome.fields.items():
            click.echo(f"{lead_id}\t{', '.join(fields) or '(nothing left to erase)'}")
        return
    held = (
        f", {outcome.hold_skipped} held (deferred until released)" if outcome.hold_skipped else ""
    )
    click.echo(
        f"request {outcome.request_id} {outcome.status}: {outcome.leads_erased} leads erased{held}"
    )
    if outcome.error:
        click.echo(f"request {outcome.request_id}: {outcome.error}", err=True)

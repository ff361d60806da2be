"""`retention erase`: one seeker's erasure request, recorded and carried out at once."""

from __future__ import annotations

from typing import Any

import click

from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.options import dry_run_option, json_option, subject_options
from retention.cli.output import anchor_error, conclude, head_line, published_head
from retention.services.erasure import RequestOutcome, erase_subject
from retention.services.subjects import SubjectArgs

__all__ = ["erase"]


ERASE_KEYS = (
    "request_id", "status", "leads_erased", "hold_skipped", "dry_run", "lead_ids", "fields",
    "residue", "audit_head",
)  # fmt: skip


@click.command()
@subject_options()
@click.option("--reference", help="Free text kept with the request, e.g. a ticket number.")
@dry_run_option
@json_option(*ERASE_KEYS)
@pass_app
def erase(
    app: App,
    subject: SubjectArgs,
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
        app.settings, app.store(), now=clock.utcnow(), reference=reference, dry_run=dry_run,
        **subject,
    )  # fmt: skip
    code, error = _exit(outcome)
    document, lines = _render(outcome, dry_run=dry_run)
    conclude(document, as_json=as_json, lines=lines, error=error, exit_code=code)


def _exit(outcome: RequestOutcome) -> tuple[int, str | None]:
    if outcome.status == "failed":
        return 1, outcome.error or f"request {outcome.request_id} failed"
    error = anchor_error(outcome.published)
    return (1, error) if error is not None else (0, None)


def _render(outcome: RequestOutcome, *, dry_run: bool) -> tuple[dict[str, Any], list[str]]:
    document: dict[str, Any] = {
        "request_id": outcome.request_id,
        "status": outcome.status,
        "leads_erased": outcome.erased_now if dry_run else outcome.leads_erased,
        "hold_skipped": outcome.hold_skipped,
        "dry_run": dry_run,
        "lead_ids": list(outcome.lead_ids),
        "fields": outcome.fields if dry_run else None,
        "residue": outcome.residue.as_dict() if outcome.residue else None,
        "audit_head": published_head(outcome.published),
    }
    if dry_run:
        lines = [
            (
                f"dry run: would erase {outcome.erased_now} leads, {outcome.hold_skipped} held "
                f"(status would be {outcome.status}); nothing recorded"
            )
        ]
        lines += [
            f"{lead_id}\t{', '.join(fields) or '(nothing left to erase)'}"
            for lead_id, fields in outcome.fields.items()
        ]
        return document, lines
    held = (
        f", {outcome.hold_skipped} held (deferred until released)" if outcome.hold_skipped else ""
    )
    lines = [
        f"request {outcome.request_id} {outcome.status}: {outcome.leads_erased} leads erased{held}"
    ]
    return document, lines + head_line(outcome.published)

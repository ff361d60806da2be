"""Options several commands share: --json (with the keys of its document), --dry-run, and
the subject of an erasure request or a hold (--email / --phone / --lead-id, --region)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import click

from retention.services.subjects import SubjectArgs

__all__ = [
    "JSON_KEYS",
    "JsonOption",
    "declare_json_keys",
    "dry_run_option",
    "json_option",
    "subject_options",
]

F = TypeVar("F", bound=Callable[..., Any])

# ctx.meta entry (shared by every context of one invocation): the keys of the document the
# running command prints with --json, set once --json is parsed.
JSON_KEYS = "retention.json_keys"


class JsonOption(click.Option):
    """`--json`, knowing the keys of its command's document."""

    def __init__(self, *args: Any, keys: Sequence[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys = tuple(keys)


def _remember(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        assert isinstance(param, JsonOption)
        ctx.meta.setdefault(JSON_KEYS, param.keys)
    return value


def json_option(*keys: str) -> Callable[[F], F]:
    """--json, printing a document with these top-level keys (plus `error`, `exit_code`)."""

    def decorate(func: F) -> F:
        return click.option(
            "--json",
            "as_json",
            is_flag=True,
            cls=JsonOption,
            keys=keys,
            callback=_remember,
            help="Print exactly one JSON object on stdout (also when the command fails).",
        )(func)

    return decorate


def declare_json_keys(keys: Sequence[str]) -> None:
    """For a command whose document depends on an argument (`run JOB`): the keys, once known."""
    ctx = click.get_current_context()
    if JSON_KEYS in ctx.meta:
        ctx.meta[JSON_KEYS] = tuple(keys)


def dry_run_option(func: F) -> F:
    return click.option(
        "--dry-run", is_flag=True, help="Report what would change; change nothing."
    )(func)


_REGION_HELP = (
    "Country of a --phone given without its country code: FR, DE, BE, AT (or FRA, DEU, BEL, "
    "AUT), or another ISO 3166-1 alpha-2 code."
)


_REQUEST_HELP = {
    "--email": "The seeker's email address (any case, spaces).",
    "--phone": "The seeker's phone number (+33..., 0033..., or national with --region).",
    "--lead-id": "One lead, by its upstream leadId.",
    "--region": _REGION_HELP,
}
_HOLD_HELP = {
    "--lead-id": "Hold one lead.",
    "--email": "Hold every lead of this seeker's email (stored as a keyed hash).",
    "--phone": "Hold every lead of this phone number (stored as a keyed hash).",
    "--region": _REGION_HELP,
}


def subject_options(*, hold: bool = False) -> Callable[[F], F]:
    """--email / --phone / --lead-id (exactly one) and --region, handed to the command as one
    `subject` argument (services.subjects.SubjectArgs): whose leads a request erases, or
    (`hold`) which leads a hold keeps."""
    helps = _HOLD_HELP if hold else _REQUEST_HELP

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def packed(*args: Any, email: str | None, phone: str | None, lead_id: str | None,
                   region: str | None, **kwargs: Any) -> Any:  # fmt: skip
            subject = SubjectArgs(email=email, phone=phone, lead_id=lead_id, region=region)
            return func(*args, subject=subject, **kwargs)

        command: Any = packed
        for name, text in reversed(helps.items()):
            command = click.option(name, help=text)(command)
        return cast(F, command)

    return decorate

"""Printing results: one JSON document, or lines of text. Only cli/ writes to stdout.

`--json` prints exactly one JSON object on stdout, whatever happens. Each command declares
the top-level keys of its document (options.json_option(*keys)); every document also carries
`error` (null on success) and `exit_code`, and a command that fails before it has a result
(bad input, config error, database unreachable, a refusal) prints its keys as null with the
error and the exit code (cli/__init__.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from retention.cli.options import JSON_KEYS

if TYPE_CHECKING:
    from retention.services.audit import Published
    from retention.storage.audit import ChainHead

__all__ = [
    "anchor_error",
    "conclude",
    "echo_json",
    "failure_document",
    "head_json",
    "head_line",
    "iso",
    "published_head",
    "record",
]


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def record(row: Any, names: Iterable[str], **renamed: str) -> dict[str, Any]:
    """A row's attributes `names` (and `key=attribute` for `renamed`) for a JSON document,
    times in ISO 8601."""
    pairs = [(name, name) for name in names] + list(renamed.items())
    values = {key: getattr(row, attribute) for key, attribute in pairs}
    return {key: iso(v) if isinstance(v, datetime) else v for key, v in values.items()}


def published_head(published: Published | None) -> dict[str, Any] | None:
    """`audit_head` of a document: the head a command published, null when none."""
    return head_json(published.head if published is not None else None)


def head_line(published: Published | None) -> list[str]:
    """The text line of the head a command published (none when it appended no event)."""
    return [f"audit head {published.head}"] if published is not None else []


def anchor_error(published: Published | None) -> str | None:
    return published.error if published is not None else None


def head_json(head: ChainHead | None) -> dict[str, Any] | None:
    return {"event_id": head.event_id, "hash": head.hash} if head is not None else None


def conclude(
    document: dict[str, Any],
    *,
    as_json: bool,
    lines: Iterable[str] = (),
    error: str | None = None,
    exit_code: int = 0,
) -> None:
    """End a command: its document (with --json) or its text `lines`, the error on stderr,
    and its exit code."""
    if as_json:
        echo_json(document, error=error, exit_code=exit_code)
    else:
        for line in lines:
            click.echo(line)
        if error is not None:
            click.echo(f"error: {error}", err=True)
    if exit_code:
        raise click.exceptions.Exit(exit_code)


def echo_json(document: dict[str, Any], *, error: str | None = None, exit_code: int = 0) -> None:
    """Print the command's document: exactly its declared keys, then `error` and `exit_code`."""
    declared = click.get_current_context().meta.get(JSON_KEYS)
    if declared is not None and set(document) != set(declared):
        raise AssertionError(f"JSON keys {sorted(document)} are not the declared {declared}")
    _print({**document, "error": error, "exit_code": exit_code})


def failure_document(keys: Sequence[str], error: str, exit_code: int) -> None:
    """The document of a command that failed before it had a result."""
    _print({**dict.fromkeys(keys), "error": error, "exit_code": exit_code})


def _print(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, sort_keys=True, default=str))

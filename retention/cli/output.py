"""Shared options and result printing. Only cli/ writes to stdout."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["dry_run_option", "echo_json", "json_option"]

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    return click.option(
        "--json", "as_json", is_flag=True, help="Print exactly one JSON object on stdout."
    )(func)


def dry_run_option(func: F) -> F:
    return click.option(
        "--dry-run", is_flag=True, help="Report what would change; change nothing."
    )(func)


def echo_json(document: dict[str, Any]) -> None:
    click.echo(json.dumps(document, sort_keys=True, default=str))

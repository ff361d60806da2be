"""`retention db`: the schema."""

from __future__ import annotations

import click

from retention.cli.app import App, pass_app
from retention.cli.options import json_option
from retention.cli.output import conclude
from retention.services.schema import upgrade_schema
from retention.storage.engine import KNOWN_REVISIONS, current_revision, head_revision

__all__ = ["db"]


@click.group()
def db() -> None:
    """Create, upgrade and inspect the database schema."""


@db.command()
@json_option("before", "after", "changed")
@pass_app
def upgrade(app: App, as_json: bool) -> None:
    """Create the schema or upgrade it to this version; safe to run again."""
    result = upgrade_schema(app.raw_engine(must_exist=False))
    url = app.settings.database.masked_url
    if result.changed:
        line = f"schema of {url} upgraded from {result.before or '(empty)'} to {result.after}"
    else:
        line = f"schema of {url} is current ({result.after})"
    document = {"before": result.before, "after": result.after, "changed": result.changed}
    conclude(document, as_json=as_json, lines=[line])


@db.command()
@json_option("database", "current", "head", "up_to_date")
@pass_app
def current(app: App, as_json: bool) -> None:
    """Show the schema revision of the store and the one this version needs."""
    revision = current_revision(app.raw_engine(must_exist=True))
    head = head_revision()
    if revision == head:
        state = "current"
    elif revision is not None and revision not in KNOWN_REVISIONS:
        state = f"newer than this version of lead-retention (up to {head}): use the newer tool"
    else:
        state = "needs `retention db upgrade`"
    url = app.settings.database.masked_url
    document = {"database": url, "current": revision, "head": head, "up_to_date": revision == head}
    conclude(document, as_json=as_json, lines=[f"{url}: revision {revision or '(none)'}, {state}"])

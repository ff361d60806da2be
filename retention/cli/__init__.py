"""The `retention` command: global options, and errors turned into exit codes in one place.

Exit codes (SPEC section 6): 0 success, 1 a job or verification failed, 2 bad usage or input,
3 database unreachable or schema not current.
"""

from __future__ import annotations

import logging
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, OperationalError

from retention.cli.app import App
from retention.cli.audit import audit
from retention.cli.db import db
from retention.cli.demo import demo
from retention.cli.hold import hold
from retention.cli.imports import import_command
from retention.cli.logs import configure_logging
from retention.cli.purge import purge
from retention.cli.run import run
from retention.config import LOG_FORMATS, load_settings
from retention.errors import DatabaseUnavailableError, RetentionError

__all__ = ["cli", "main"]

logger = logging.getLogger(__name__)


def _driver_reason(exc: DBAPIError) -> str:
    """The driver's first line, never the SQL or its parameters (they may hold personal data)."""
    if exc.orig is None:
        return type(exc).__name__
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__


class RetentionGroup(click.Group):
    """Translates every error of every subcommand into one stderr line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RetentionError as exc:
            code, message = exc.exit_code, str(exc)
            original: BaseException = exc
        except OperationalError as exc:
            code = DatabaseUnavailableError.exit_code
            message = f"database unavailable: {_driver_reason(exc)}"
            original = exc
        except DBAPIError as exc:
            code, message, original = 1, f"database error: {_driver_reason(exc)}", exc
        if ctx.params.get("traceback"):
            raise original
        click.echo(f"error: {message}", err=True)
        ctx.exit(code)


@click.group(cls=RetentionGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="RETENTION_CONFIG",
    help="TOML file overriding config/default.toml (env RETENTION_CONFIG).",
)
@click.option(
    "--database-url",
    metavar="URL",
    help="Store to use, e.g. sqlite:///retention.db or postgresql+psycopg://... "
    "(env RETENTION_DATABASE_URL).",
)
@click.option(
    "--log-format",
    type=click.Choice(LOG_FORMATS),
    help="Log lines on stderr as text or JSON (default from config: text).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details too.")
@click.option("-q", "--quiet", is_flag=True, help="Log only warnings and errors.")
@click.option("--traceback", is_flag=True, help="Show the Python traceback of an error.")
@click.version_option(package_name="lead-retention")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    database_url: str | None,
    log_format: str | None,
    verbose: bool,
    quiet: bool,
    traceback: bool,
) -> None:
    """Keep a store of real-estate seeker leads lawful under the GDPR.

    Logs go to stderr, results to stdout. Exit codes: 0 success, 1 a job or verification
    failed, 2 bad usage or input, 3 database unreachable or schema not current.
    """
    level = "debug" if verbose else ("warning" if quiet else None)
    settings = load_settings(
        config_path,
        overrides={
            "database.url": database_url,
            "logging.format": log_format,
            "logging.level": level,
        },
    )
    configure_logging(settings.logging.format, settings.logging.level)
    app = App(settings)
    ctx.obj = app
    ctx.call_on_close(app.close)


for command in (db, import_command, purge, run, hold, audit, demo):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="retention")

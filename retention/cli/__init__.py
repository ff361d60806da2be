"""The `retention` command: global options, and errors turned into exit codes in one place.

Exit codes (SPEC section 6): 0 success, 1 a job or verification failed, 2 bad usage or input,
3 database unreachable or schema not current.
"""

from __future__ import annotations

import gc

# Start-up: importing creates many objects and no garbage, so the cyclic collector only costs
# time here (a tenth of a one-off command's run). It is turned back on at the end of this
# module and once a command's modules are loaded (RetentionGroup.get_command): a long-running
# command (the scheduler) runs with it, like any program.
gc.disable()

import importlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402
from sqlalchemy.exc import DBAPIError, OperationalError  # noqa: E402

from retention.cli.app import App  # noqa: E402
from retention.cli.logs import configure_logging  # noqa: E402
from retention.cli.options import JSON_KEYS, JsonOption  # noqa: E402
from retention.cli.output import failure_document  # noqa: E402
from retention.config import LOG_FORMATS, load_settings  # noqa: E402
from retention.errors import ConfigError, DatabaseUnavailableError, RetentionError  # noqa: E402

__all__ = ["cli", "main"]

logger = logging.getLogger(__name__)


def _driver_reason(exc: DBAPIError) -> str:
    """The driver's first line, never the SQL or its parameters (they may hold personal data)."""
    if exc.orig is None:
        return type(exc).__name__
    lines = str(exc.orig).strip().splitlines()
    return lines[0] if lines else type(exc.orig).__name__


# Command name -> "module:attribute". A command's module is imported only when the command
# runs (or help lists it): a one-off `retention erase` does not pay for the import machinery.
COMMANDS = {
    "db": "retention.cli.db:db",
    "import": "retention.cli.imports:import_command",
    "purge": "retention.cli.purge:purge",
    "erase": "retention.cli.erase:erase",
    "requests": "retention.cli.requests:requests",
    "run": "retention.cli.run:run",
    "hold": "retention.cli.hold:hold",
    "audit": "retention.cli.audit:audit",
    "report": "retention.cli.report:report",
    "demo": "retention.cli.demo:demo",
    "status": "retention.cli.status:status",
    "scheduler": "retention.cli.scheduler:scheduler",
    "replay": "retention.cli.replay:replay",
}


class RetentionGroup(click.Group):
    """Loads subcommands on demand, and translates every error of every subcommand into one
    stderr line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module_name, attribute = COMMANDS[cmd_name].split(":")
            collecting = gc.isenabled()
            gc.disable()
            try:
                command = getattr(importlib.import_module(module_name), attribute)
            finally:
                if collecting:
                    gc.enable()
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_ARGS] = list(args)  # to tell, on a usage error, whether --json was asked
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            # Click prints the usage and exits 2; with --json, one JSON object comes first.
            keys = _json_keys_of(ctx, exc.ctx)
            if keys is not None:
                failure_document(keys, exc.format_message(), exc.exit_code)
            raise
        except RetentionError as exc:
            code, message = exc.exit_code, str(exc)
            original: BaseException = exc
        except OperationalError as exc:
            code = DatabaseUnavailableError.exit_code
            reason = _driver_reason(exc)
            if reason == "database is locked":  # SQLite, after busy_timeout_seconds
                reason += (
                    ": another process (an import or a job) kept writing to the store for "
                    "longer than database.busy_timeout_seconds; nothing was changed, try again"
                )
            message = f"database unavailable: {reason}"
            original = exc
        except DBAPIError as exc:
            code, message, original = 1, f"database error: {_driver_reason(exc)}", exc
        if ctx.params.get("traceback"):
            raise original
        keys = ctx.meta.get(JSON_KEYS)
        if keys is not None:
            failure_document(keys, message, code)
        click.echo(f"error: {message}", err=True)
        ctx.exit(code)


_ARGS = "retention.args"


def _json_keys_of(root: click.Context, failed: click.Context | None) -> tuple[str, ...] | None:
    """The JSON keys of the command a usage error is about, when --json was on its line."""
    keys: tuple[str, ...] | None = root.meta.get(JSON_KEYS)
    if keys is not None or "--json" not in root.meta.get(_ARGS, ()):
        return keys
    command = failed.command if failed is not None else None
    for param in command.params if command is not None else ():
        if isinstance(param, JsonOption):
            return param.keys
    return None


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
    try:
        settings = load_settings(
            config_path,
            overrides={
                "database.url": database_url,
                "logging.format": log_format,
                "logging.level": level,
            },
        )
    except ConfigError as exc:
        # Raised when the command first needs its settings, once its own options (--json)
        # are parsed, so that the error reaches it like any other.
        configure_logging(log_format or LOG_FORMATS[0], level or "info")
        app = App(None, config_error=exc)
    else:
        configure_logging(settings.logging.format, settings.logging.level)
        app = App(settings)
    ctx.obj = app
    ctx.call_on_close(app.close)


def main() -> None:
    """The console command.

    A one-off command ends the process without the interpreter's teardown of every loaded
    module (a third of a short command's wall time): it has closed its database connections
    by then, and stdout and stderr are flushed here. A command that runs a scheduler or
    threads for long (it calls App.exit_normally()), or that leaves a thread running, gets
    the interpreter's normal exit instead: threads are joined, atexit handlers and logging
    handlers run."""
    try:
        cli.main(prog_name="retention")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    if App.normal_exit_wanted() or threading.active_count() > 1:
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


gc.enable()

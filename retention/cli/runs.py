"""What `retention purge` and `retention run JOB` share: the progress line on a terminal, the
stop on SIGTERM/SIGINT, and how a run's outcome becomes an exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
from sqlalchemy import Engine

from jobs.metrics import MetricsObserver
from jobs.runner import JobRun
from jobs.signals import stop_requested_on_signals
from retention.cli.app import App
from retention.cli.output import conclude
from retention.config import Settings
from retention.services.observer import BatchStats, Observers, RunObserver

__all__ = ["ProgressLine", "progress_line", "run_exit", "run_job_command", "run_with_signals"]


class ProgressLine(RunObserver):
    """One line on stderr, rewritten after each batch."""

    def batch_done(self, stats: BatchStats) -> None:
        if stats.job == "purge":
            done = min((stats.total_rows + stats.total_held) / max(stats.due, 1), 1)
            text = (
                f"purge: {stats.total_rows} deleted, {stats.total_held} held, "
                f"batch {stats.batch} ({done:.0%})"
            )
        else:
            text = (
                f"{stats.job}: {stats.total_requests} requests, {stats.total_rows} leads "
                f"erased, batch {stats.batch}"
            )
        click.echo(f"\r{text}", err=True, nl=False)

    def end(self) -> None:
        click.echo("", err=True)


def progress_line(as_json: bool) -> ProgressLine | None:
    """A progress line on a terminal; none with --json or without a terminal."""
    return ProgressLine() if not as_json and sys.stderr.isatty() else None


def run_with_signals(
    start: Callable[[RunObserver | None, Callable[[], bool]], JobRun[Any]],
    *,
    as_json: bool,
    settings: Settings,
    engine: Engine,
) -> JobRun[Any]:
    """Run a job with a progress line, the metrics exported after it (as configured), and
    SIGTERM/SIGINT asking it to stop after the batch in flight."""
    progress = progress_line(as_json)
    exported: RunObserver | None = None
    if MetricsObserver.wanted(settings):
        exported = MetricsObserver(settings, lambda: engine)
    with stop_requested_on_signals() as stop:
        run = start(Observers(progress, exported), stop.is_set)
    if progress is not None:
        progress.end()
    return run


def run_exit(run: JobRun[Any]) -> tuple[int, str | None]:
    """The exit code of a run, and why it is not 0."""
    if run.outcome.status == "failed":
        return 1, run.outcome.error
    if run.outcome.status == "interrupted":
        return 1, "interrupted by a signal after the batch in flight; the next run goes on"
    if run.published is not None and run.published.error is not None:
        return 1, run.published.error
    return 0, None


def run_job_command(
    app: App,
    job: Callable[..., JobRun[Any]],
    render: Callable[[Any], tuple[dict[str, Any], list[str]]],
    *,
    as_json: bool,
    **args: Any,
) -> None:
    """Run `job(settings, engine, **args)` from the command line: a progress line, the stop on
    signals, the metrics; then its document or lines (`render`) and its exit code."""
    engine = app.store()
    run = run_with_signals(
        lambda observer, should_stop: job(
            app.settings, engine, observer=observer, should_stop=should_stop, **args
        ),
        as_json=as_json,
        settings=app.settings,
        engine=engine,
    )
    code, error = run_exit(run)
    document, lines = render(run)
    conclude(document, as_json=as_json, lines=lines, error=error, exit_code=code)

"""`retention scheduler`: the jobs on their schedules, until stopped."""

from __future__ import annotations

import click

from jobs.scheduler import serve
from retention.cli.app import App, pass_app

__all__ = ["scheduler"]


@click.command()
@pass_app
def scheduler(app: App) -> None:
    """Run the jobs on their cron schedules ([jobs.NAME] schedule) until SIGTERM or SIGINT.

    Each run takes its job's lock, so several schedulers (or cron lines) may share a store;
    a run that finds nothing to do records only a heartbeat. A run missed while the
    scheduler was down runs once when it starts. The database going away fails that run
    and the scheduler tries again at the next trigger. SIGTERM or Ctrl-C lets the batches in
    flight commit and exits 0. With [metrics] port, /metrics is served over HTTP.
    """
    app.exit_normally()
    serve(app.settings, app.store)

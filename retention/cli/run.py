"""`retention run JOB`: one run of a job, for cron or a Kubernetes CronJob."""

from __future__ import annotations

from collections.abc import Callable

import click

from jobs.registry import JOBS
from retention.cli.app import App, pass_app
from retention.cli.erasure_run import ERASURE_KEYS, run_erasure
from retention.cli.options import declare_json_keys, dry_run_option, json_option
from retention.cli.purge import PURGE_KEYS, run_purge
from retention.cli.report_run import REPORT_KEYS, run_report

__all__ = ["RUNNERS", "run"]

# How each job of the registry runs from the command line, and its --json keys
# (tests/test_cli.py checks every job has one).
RUNNERS: dict[str, tuple[Callable[..., None], tuple[str, ...]]] = {
    "purge": (run_purge, PURGE_KEYS),
    "erasure": (run_erasure, ERASURE_KEYS),
    "report": (run_report, REPORT_KEYS),
}


@click.command()
@click.argument("job", type=click.Choice(list(JOBS)))
@dry_run_option
@json_option("run_id", "status", "dry_run", "audit_head")  # each job's keys, once known
@pass_app
def run(app: App, job: str, dry_run: bool, as_json: bool) -> None:
    """Run one job once with its configured settings, under the job's lock.

    purge: delete the leads due under the retention policy. erasure: carry out the queued
    erasure requests, oldest first. report: write the compliance report of the last
    [jobs.report] days whole days into [jobs.report] folder, one file per format named after
    the period. A purge or erasure run first looks whether there is anything to do; when
    there is not, it records only the job's heartbeat (status `idle`: no run, no audit event),
    so cron may call it every minute. Exit 0 when the run succeeded, found nothing to do, or
    was skipped because another run of the job holds the lock; 1 when it failed or was
    interrupted.
    """
    runner, keys = RUNNERS[job]
    declare_json_keys(keys)
    runner(app, dry_run=dry_run, as_json=as_json, check_first=True)

"""`retention run JOB`: one run of a job, for cron or a Kubernetes CronJob."""

from __future__ import annotations

import click

from jobs.registry import JOBS
from retention.cli.app import App, pass_app
from retention.cli.output import declare_json_keys, dry_run_option, json_option

__all__ = ["run"]


@click.command()
@click.argument("job", type=click.Choice(JOBS))
@dry_run_option
@json_option("run_id", "status", "dry_run", "audit_head")  # each job's keys, once known
@pass_app
def run(app: App, job: str, dry_run: bool, as_json: bool) -> None:
    """Run one job once with its configured settings, under the job's lock.

    purge: delete the leads due under the retention policy. erasure: carry out the queued
    erasure requests, oldest first. Exit 0 when the run succeeded or was skipped because
    another run of the job holds the lock; 1 when it failed or was interrupted.
    """
    if job == "purge":
        from retention.cli.purge import PURGE_KEYS, run_purge

        declare_json_keys(PURGE_KEYS)
        run_purge(app, dry_run=dry_run, as_json=as_json)
    else:
        from retention.cli.erasure_run import ERASURE_KEYS, run_erasure

        declare_json_keys(ERASURE_KEYS)
        run_erasure(app, dry_run=dry_run, as_json=as_json)

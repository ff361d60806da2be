"""`retention status`: the operator's view, for a terminal or a monitoring probe."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from jobs.status import OperatorStatus, operator_status
from retention import clock
from retention.cli.app import App, pass_app
from retention.cli.options import json_option
from retention.cli.output import conclude, head_json, iso, record
from retention.storage.runs import RunRow

__all__ = ["status"]

_RUN_FIELDS = ("id", "status", "started_at", "finished_at", "counts", "error")


def _run(row: RunRow | None) -> dict[str, Any] | None:
    return record(row, _RUN_FIELDS) if row is not None else None


def _document(view: OperatorStatus) -> dict[str, Any]:
    store = view.store
    return {
        "jobs": {
            state.job: {
                "enabled": view.next_runs.get(state.job) is not None,
                "last_run": _run(state.last_run),
                "last_success": _run(state.last_success),
                "last_check": iso(state.last_check),
                "next_run": iso(view.next_runs.get(state.job)),
            }
            for state in store.jobs
        },
        "due": dataclasses.asdict(store.due),
        "purge_lag_seconds": store.purge_lag_seconds,
        "requests": dataclasses.asdict(store.requests),
        "holds": {"active": store.holds},
        "audit_head": head_json(store.audit_head),
        "schema": {"revision": store.schema_revision, "current": store.schema_current},
    }


def _lines(view: OperatorStatus) -> list[str]:
    store, lines = view.store, []
    for state in store.jobs:
        last = state.last_run
        ran = f"last run {last.id} {last.status} at {iso(last.started_at)}" if last else "never ran"
        ok = f", last success {iso(state.last_success.finished_at)}" if state.last_success else ""
        checked = f", last check {iso(state.last_check)}" if state.last_check else ""
        upcoming = view.next_runs.get(state.job)
        nxt = f", next {iso(upcoming)}" if upcoming else ", disabled"
        lines.append(f"{state.job}: {ran}{ok}{checked}{nxt}")
    cap = "+" if store.due.capped else ""
    lines.append(
        f"due now: ttl {store.due.ttl}{cap}, ceiling {store.due.ceiling}{cap} "
        f"({store.due.held} held); purge lag {store.purge_lag_seconds} s"
    )
    r = store.requests
    lines.append(
        f"requests: {r.pending} pending, {r.deferred} deferred, {r.failed} failed, "
        f"{r.overdue} overdue; {store.holds} active hold(s)"
    )
    lines.append(f"audit head {store.audit_head}; schema {store.schema_revision}")
    lines += [f"problem: {problem}" for problem in view.problems]
    return lines


@click.command()
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when a job's last run failed, a request is overdue, or the purge lag exceeds "
    "status.max_lag_seconds (for a monitoring probe).",
)
@json_option("jobs", "due", "purge_lag_seconds", "requests", "holds", "audit_head", "schema")
@pass_app
def status(app: App, check: bool, as_json: bool) -> None:
    """Show each job's last run, last success, last check and next run; leads due now and the
    purge lag; erasure requests pending, deferred, failed and overdue; active holds; the audit
    head; the schema revision. Reads only: no write, no lock.
    """
    view = operator_status(app.settings, app.store(), now=clock.utcnow())
    failing = check and bool(view.problems)
    error = "; ".join(view.problems) if failing else None
    conclude(_document(view), as_json=as_json, lines=_lines(view), error=error,
             exit_code=1 if failing else 0)  # fmt: skip

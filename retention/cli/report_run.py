"""`retention run report`: write the compliance report of the last period to its folder."""

from __future__ import annotations

from typing import Any

from jobs.report import ReportRun, report_job
from retention.cli.app import App
from retention.cli.output import head_json
from retention.cli.runs import run_job_command

__all__ = ["REPORT_KEYS", "run_report"]

REPORT_KEYS = ("run_id", "status", "dry_run", "period", "files", "audit_chain_ok", "audit_head")


def run_report(app: App, *, dry_run: bool, as_json: bool, check_first: bool = False) -> None:
    """The report job has no idle check: it always writes its period's report."""
    run_job_command(app, report_job, _render, as_json=as_json, dry_run=dry_run)


def _render(run: ReportRun) -> tuple[dict[str, Any], list[str]]:
    outcome, written = run.outcome, run.result
    document: dict[str, Any] = {
        "run_id": outcome.run_id,
        "status": outcome.status,
        "dry_run": outcome.dry_run,
        "period": written.report.period.label() if written else None,
        "files": [str(path) for path in written.paths] if written else [],
        "audit_chain_ok": written.report.audit_chain.ok if written else None,
        "audit_head": head_json(outcome.head),
    }
    if outcome.status == "skipped":
        return document, [f"report run {outcome.run_id} skipped: another report run holds the lock"]
    verb = "would write" if outcome.dry_run else "wrote"
    files = ", ".join(document["files"]) or "nothing"
    lines = [f"report run {outcome.run_id} {outcome.status}: {verb} {files}"]
    if outcome.head is not None:
        lines.append(f"audit head {outcome.head}")
    return document, lines

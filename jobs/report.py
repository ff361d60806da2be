"""The report job: the compliance report of the last period, into `[jobs.report] folder`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Unpack

from sqlalchemy import Engine

from jobs.runner import JobRun, RunArgs, RunFailed, run_job, timed_phase
from retention import clock
from retention.config import Settings
from retention.reports.model import Report
from retention.services.report import build_report, last_whole_days
from retention.services.report_files import report_paths, write_report_files

__all__ = ["ReportRun", "WrittenReport", "report_job"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WrittenReport:
    report: Report
    paths: tuple[Path, ...]  # written, or that a dry run would write


ReportRun = JobRun[WrittenReport]


def report_job(settings: Settings, engine: Engine, **run: Unpack[RunArgs]) -> ReportRun:
    """Write the report of the `[jobs.report] days` whole days before today (UTC) in each
    configured format, after walking the whole audit chain (which `retention report` then
    walks on from). The run fails (exit 1) when the audit chain is broken: the report,
    which says so, is written all the same."""
    from jobs.registry import JOBS  # the registry imports this module

    now = clock.utcnow()
    config = settings.jobs.report
    period = last_whole_days(now, config.days)
    dry_run = run.get("dry_run", False)
    state: dict[str, Any] = {}

    def body(run_id: int) -> tuple[dict[str, Any], WrittenReport]:
        with timed_phase(run.get("observer"), "report", "work"):
            report = build_report(
                settings,
                engine,
                period,
                now=now,
                jobs=tuple(JOBS),
                walk_in_full=True,
                record=not dry_run,
            )
            if dry_run:
                paths = report_paths(config.folder, period, config.formats)
            else:
                paths = write_report_files(report, config.folder, config.formats)
        written = WrittenReport(report, tuple(paths))
        state["written"] = written
        counts: dict[str, Any] = {
            "period": period.label(),
            "files": [str(path) for path in paths],
            "audit_chain_ok": report.audit_chain.ok,
        }
        if not report.audit_chain.ok:
            chain = report.audit_chain
            raise RunFailed(f"audit chain broken at event {chain.first_bad_event}", counts)
        return counts, written

    outcome = run_job(
        settings, engine, "report", body, now=now, dry_run=dry_run, observer=run.get("observer")
    )
    written: WrittenReport | None = state.get("written")
    if written is not None:
        logger.info(
            "report run %d %s: %s %s",
            outcome.run_id, outcome.status, "would write" if dry_run else "wrote",
            ", ".join(str(path) for path in written.paths),
            extra={"run_id": outcome.run_id, "job": "report"},
        )  # fmt: skip
    return JobRun(outcome, written, None)

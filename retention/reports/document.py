"""The report as one JSON-ready document: what `--format json` prints and `csv` flattens.

Top-level keys (SPEC section 7): period, purged, erased, erasure_requests, backlog,
legal_holds, runs, audit_chain; then policy and generated_at. Times are ISO 8601 UTC with a
Z, days YYYY-MM-DD. The README documents every field.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from retention.reports.model import DayCount, Report

__all__ = ["DEADLINE", "report_document", "utc"]

DEADLINE = "one calendar month after receipt, through the end of the due day (UTC)"


def utc(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.isoformat(timespec="seconds" if not moment.microsecond else "microseconds")
    return text.replace("+00:00", "Z")


def _days(rows: Iterable[DayCount]) -> list[dict[str, Any]]:
    return [{"day": row.day.isoformat(), "count": row.count} for row in rows]


def report_document(report: Report) -> dict[str, Any]:
    period, purged, erased = report.period, report.purged, report.erased
    requests, backlog, holds = report.erasure_requests, report.backlog, report.legal_holds
    chain, policy = report.audit_chain, report.policy
    return {
        "period": {
            "since": utc(period.since),
            "until": utc(period.until),
            "days": len(period.days()),
        },
        "purged": {
            "total": purged.total,
            "by_rule": dict(purged.by_rule),
            "by_portal": dict(purged.by_portal),
            "by_category": dict(purged.by_category),
            "by_day": _days(purged.by_day),
        },
        "erased": {
            "total": erased.total,
            "by_source": dict(erased.by_source),
            "by_day": _days(erased.by_day),
        },
        "erasure_requests": {
            "received": requests.received,
            "completed": requests.completed,
            "completed_late": requests.completed_late,
            "pending": requests.pending,
            "deferred": requests.deferred,
            "failed": requests.failed,
            "overdue": requests.overdue,
            "median_days_to_complete": requests.median_days_to_complete,
            "max_days_to_complete": requests.max_days_to_complete,
            "deadline": DEADLINE,
            "oldest_open_received_at": utc(requests.oldest_open_received_at),
            "by_age": [
                {"age": bucket.label, "completed": bucket.completed, "open": bucket.open}
                for bucket in requests.ages
            ],
        },
        "backlog": {
            "due": backlog.total,
            "by_rule": dict(backlog.by_rule),
            "held": backlog.held,
            "oldest_due_at": utc(backlog.oldest_due_at),
            "lag_seconds": backlog.lag_seconds,
            "by_day": [
                {
                    "day": row.day.isoformat(),
                    "purge_runs": row.runs,
                    "max_due_at_start": row.max_due_at_start,
                }
                for row in backlog.history
            ],
        },
        "legal_holds": {
            "active": holds.active,
            "on_leads": holds.active_on_leads,
            "on_subjects": holds.active_on_subjects,
            "placed": holds.placed,
            "released": holds.released,
            "skipped": holds.skipped_total,
            "skipped_by_job": dict(holds.skips),
        },
        "runs": {
            runs.job: {
                "runs": runs.runs,
                "succeeded": runs.succeeded,
                "failed": runs.failed,
                "skipped": runs.skipped,
                "interrupted": runs.interrupted,
                "dry_runs": runs.dry_runs,
                "last_success": utc(runs.last_success),
                "last_failure": utc(runs.last_failure),
            }
            for runs in report.runs
        },
        "audit_chain": {
            "ok": chain.ok,
            "events": chain.events,
            "head": {"event_id": chain.head_event_id, "hash": chain.head_hash},
            "first_bad_event": chain.first_bad_event,
            "problem": chain.problem,
            "anchor": chain.anchor,
            "anchor_ok": chain.anchor_ok,
            "anchor_problem": chain.anchor_problem,
            "walked_in_full_through": chain.walked_in_full_through,
            "walked_in_full_at": utc(chain.walked_in_full_at),
        },
        "policy": {
            "ceiling_years": policy.ceiling_years,
            "erased_fields": list(policy.erased_fields),
            "guard_max_share": policy.guard_max_share,
            "guard_max_leads": policy.guard_max_leads,
            "statements": [{"topic": topic, "text": text} for topic, text in policy.statements],
        },
        "generated_at": utc(report.generated_at),
    }

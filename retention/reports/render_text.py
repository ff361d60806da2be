"""`--format text`: the report for a terminal, 88 columns."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from retention.reports.document import DEADLINE, utc
from retention.reports.model import Report

__all__ = ["render_text"]

_WIDTH = 88
_LABEL = 22


def _n(number: int) -> str:
    return f"{number:,}"


def _pairs(pairs: Iterable[tuple[str, int]]) -> str:
    return " · ".join(f"{name} {_n(count)}" for name, count in pairs) or "none"


def _line(label: str, text: str) -> str:
    """`label` and `text`, wrapped at the " · " between figures (else at spaces)."""
    if " " not in text:  # one word (a hash): never broken
        return f"  {label:<{_LABEL}}{text}"
    indent = " " * (_LABEL + 2)
    lines, current = [], f"  {label:<{_LABEL}}"
    parts = text.split(" · ")
    for index, part in enumerate(parts):
        piece = part + (" ·" if index < len(parts) - 1 else "")
        if len(current) + len(piece) > _WIDTH and current.strip() != label:
            lines.append(current.rstrip())
            current = indent
        current += piece + " "
    lines.append(current.rstrip())
    return "\n".join(
        textwrap.fill(line, _WIDTH, subsequent_indent=indent, break_long_words=False)
        if len(line) > _WIDTH
        else line
        for line in lines
    )


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:g} days"


def render_text(report: Report) -> str:
    period, purged, erased = report.period, report.purged, report.erased
    requests, backlog, holds, chain = (report.erasure_requests, report.backlog,
                                       report.legal_holds, report.audit_chain)  # fmt: skip
    last = period.last_moment
    span = (
        f"{period.since:%Y-%m-%d} to {last:%Y-%m-%d} (UTC, {len(period.days())} days)"
        if period.whole_days
        else f"{utc(period.since)} to {utc(period.until)}"
    )
    out = [f"Compliance report: {span}", f"Generated {utc(report.generated_at)}", ""]

    out += [f"Leads purged: {_n(purged.total)}"]
    out += [_line("by rule", _pairs(purged.by_rule))]
    out += [_line("by portal", _pairs(purged.by_portal))]
    out += [_line("by category", _pairs(purged.by_category))]
    out += [f"Leads erased: {_n(erased.total)}", _line("by source", _pairs(erased.by_source))]
    active_days = [
        (p.day, p.count, e.count)
        for p, e in zip(purged.by_day, erased.by_day, strict=True)
        if p.count or e.count
    ]
    if active_days:
        out += ["", f"  {'day':<12}{'purged':>10}{'erased':>10}"]
        out += [f"  {day.isoformat():<12}{_n(p):>10}{_n(e):>10}" for day, p, e in active_days]

    out += ["", "Erasure requests"]
    out += [_line("received", f"{_n(requests.received)} in the period")]
    late = f" ({_n(requests.completed_late)} after their due date)"
    out += [_line("completed", _n(requests.completed) + (late if requests.completed_late else ""))]
    out += [_line("open now", _pairs((("pending", requests.pending),
                                      ("deferred (hold)", requests.deferred),
                                      ("failed", requests.failed))))]  # fmt: skip
    out += [_line("overdue now", _n(requests.overdue))]
    out += [_line("time to complete", f"median {_days(requests.median_days_to_complete)}, "
                                      f"max {_days(requests.max_days_to_complete)}")]  # fmt: skip
    out += [_line("deadline", DEADLINE)]
    out += [_line("by age", _pairs((b.label, b.completed + b.open) for b in requests.ages))]

    out += ["", f"Backlog (due but still present): {_n(backlog.total)}"]
    out += [_line("by rule", _pairs(backlog.by_rule))]
    out += [_line("held (due, kept)", _n(backlog.held))]
    lag = f"{_n(backlog.lag_seconds)} s" + (
        f" (oldest due since {utc(backlog.oldest_due_at)})" if backlog.oldest_due_at else ""
    )
    out += [_line("purge lag", lag)]
    worst = max(backlog.history, key=lambda day: day.max_due_at_start, default=None)
    if worst is not None and worst.max_due_at_start:
        out += [_line("largest at a run", f"{_n(worst.max_due_at_start)} on {worst.day}")]

    out += ["", f"Legal holds: {_n(holds.active)} active"]
    out += [_line("on leads / seekers", f"{_n(holds.active_on_leads)} / "
                                        f"{_n(holds.active_on_subjects)}")]  # fmt: skip
    out += [_line("placed / released", f"{_n(holds.placed)} / {_n(holds.released)} in the period")]
    out += [_line("leads left alone", f"{_n(holds.skipped_total)} ({_pairs(holds.skips)})")]

    out += ["", "Job runs"]
    for runs in report.runs:
        figures = _pairs(
            (("succeeded", runs.succeeded), ("failed", runs.failed), ("skipped", runs.skipped),
             ("interrupted", runs.interrupted))
        )  # fmt: skip
        success = utc(runs.last_success) or "never"
        out += [_line(runs.job, f"{_n(runs.runs)} runs: {figures}; last success {success}")]

    out += ["", "Audit chain"]
    if chain.ok:
        state = f"intact: {_n(chain.events)} events"
    else:
        state = f"BROKEN at event {chain.first_bad_event}: {chain.problem}"
    out += [_line("state", state)]
    out += [_line("head", f"{chain.head_event_id or 0}:{chain.head_hash}")]
    at, through = chain.walked_in_full_at, chain.walked_in_full_through
    if at is None or (at == report.generated_at and through == chain.head_event_id):
        walked = "in full, now"
    elif through == chain.head_event_id:
        walked = f"in full at {utc(at)}; no event since"
    else:
        walked = f"in full through event {through} at {utc(at)}, on from there now"
    out += [_line("walked", walked)]
    if chain.anchor_problem is not None:
        out += [_line("anchor", f"PROBLEM: {chain.anchor_problem}")]
    elif chain.anchor is not None:
        held = {True: "held", False: "NOT held", None: "not checked"}[chain.anchor_ok]
        out += [_line("newest anchor", f"{chain.anchor} ({held})")]

    out += ["", "Policy in force"]
    for topic, text in report.policy.statements:
        out += textwrap.wrap(f"{topic}: {text}", _WIDTH, initial_indent="  ",
                             subsequent_indent="    ")  # fmt: skip
    return "\n".join(out) + "\n"

"""The compliance report (SPEC section 7): its figures for a period, from aggregate queries.

One read-only snapshot for the figures (they agree with each other), then the audit
chain's state (services/audit: the events since the last check walked, the newest anchor
looked up). Deterministic: the same store and clock give the same Report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection, Engine

from retention.config import Settings
from retention.domain.events import (
    ERASURE_REASONS,
    HoldPlaced,
    HoldReleased,
    LeadErased,
    LeadHoldSkipped,
    LeadPurged,
)
from retention.domain.lead import CATEGORIES
from retention.domain.policy import RULES
from retention.domain.requests import RequestStatus
from retention.errors import InputError
from retention.reports.model import (
    AGE_BUCKETS,
    AgeBucket,
    AuditChainState,
    Backlog,
    BacklogDay,
    DayCount,
    Erased,
    ErasureRequests,
    JobRuns,
    LegalHolds,
    Period,
    PolicyInForce,
    Purged,
    Report,
)
from retention.services.audit import (
    FullWalk,
    read_anchor_file,
    record_full_walk,
    verify_audit_chain,
    verify_audit_chain_since_last,
)
from retention.services.policy import policy_of
from retention.storage import report_queries as q
from retention.storage.due_leads import count_due, oldest_due
from retention.storage.holds import active_holds_exist
from retention.storage.requests import open_request_counts
from retention.storage.snapshot import read_snapshot

__all__ = ["DEFAULT_DAYS", "build_report", "default_period", "last_whole_days", "policy_in_force"]

DEFAULT_DAYS = 30
# Whole days a request took (or has been open) that end each age bucket but the last two.
_AGE_LIMITS = (8, 15, 22, 29)
_HOLD_JOBS = ("purge", "erasure", "import")


def default_period(now: datetime, *, since: datetime | None, until: datetime | None) -> Period:
    """`retention report`'s period: up to `until` (default: the end of today, UTC), from
    `since` (default: DEFAULT_DAYS whole days before `until`)."""
    if until is None:
        until = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    if since is None:
        since = until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise InputError(
            f"--since: {since:%Y-%m-%dT%H:%M:%SZ} is not before the period's end "
            f"({until:%Y-%m-%dT%H:%M:%SZ})"
        )
    return Period(since, until)


def last_whole_days(now: datetime, days: int) -> Period:
    """The `days` whole UTC days before the day of `now` (the report job's period)."""
    until = datetime.combine(now.date(), datetime.min.time(), tzinfo=UTC)
    return Period(until - timedelta(days=days), until)


def build_report(
    settings: Settings,
    engine: Engine,
    period: Period,
    *,
    now: datetime,
    jobs: Sequence[str],
    walk_in_full: bool = False,
    record: bool = False,
) -> Report:
    """The report of `period` as of `now` (the state figures: backlog, open requests,
    active holds); `jobs` are the registry's, listed even when they never ran.

    The audit chain is walked from the head of its last full walk (`audit verify`, the
    report job), or, with `walk_in_full`, from its first event, which `record` then
    remembers (the report job, not in a dry run)."""
    with read_snapshot(engine, aggregates=True) as conn:
        purged = _purged(conn, period)
        erased = _erased(conn, period)
        requests = _requests(conn, period, now)
        backlog = _backlog(settings, conn, period, now)
        holds = _holds(conn, period, now)
        runs = _runs(conn, period, now, jobs)
    return Report(
        generated_at=now,
        period=period,
        purged=purged,
        erased=erased,
        erasure_requests=requests,
        backlog=backlog,
        legal_holds=holds,
        runs=runs,
        audit_chain=_audit_chain(settings, engine, now, walk_in_full=walk_in_full, record=record),
        policy=policy_in_force(settings),
    )


def _per_day(period: Period, counts: Counter[date]) -> tuple[DayCount, ...]:
    return tuple(DayCount(day, counts.get(day, 0)) for day in period.days())


def _purged(conn: Connection, period: Period) -> Purged:
    rows = q.facet_counts(conn, LeadPurged.ACTION, period.since, period.until)
    by_rule: Counter[str] = Counter({rule: 0 for rule in RULES})
    by_portal: Counter[str] = Counter()
    by_category: Counter[str] = Counter({category: 0 for category in CATEGORIES})
    by_day: Counter[date] = Counter()
    for day, category, portal, rule, _, events in rows:
        by_rule[rule or "unknown"] += events
        by_portal[portal or "unknown"] += events
        by_category[category or "unknown"] += events
        by_day[date.fromisoformat(day)] += events
    return Purged(
        total=sum(by_day.values()),
        by_rule=tuple(by_rule.items()),
        by_portal=tuple(sorted(by_portal.items())),
        by_category=tuple(by_category.items()),
        by_day=_per_day(period, by_day),
    )


def _erased(conn: Connection, period: Period) -> Erased:
    rows = q.facet_counts(conn, LeadErased.ACTION, period.since, period.until)
    by_source: Counter[str] = Counter({reason: 0 for reason in ERASURE_REASONS})
    by_day: Counter[date] = Counter()
    for day, _, _, _, reason, events in rows:
        by_source[reason or "unknown"] += events
        by_day[date.fromisoformat(day)] += events
    return Erased(sum(by_day.values()), tuple(by_source.items()), _per_day(period, by_day))


def _requests(conn: Connection, period: Period, now: datetime) -> ErasureRequests:
    counts = q.request_counts(conn, period.since, period.until)
    open_now = open_request_counts(conn, now=now)
    median, longest = q.completion_seconds(conn, period.since, period.until)
    buckets = {(index, done): 0 for index in range(len(AGE_BUCKETS)) for done in (True, False)}
    for index, done, number in q.age_buckets(conn, period.since, period.until, now, _AGE_LIMITS):
        buckets[(index, done)] += number
    return ErasureRequests(
        received=counts["received"],
        completed=counts["completed"],
        completed_late=counts["late"],
        pending=open_now[RequestStatus.PENDING],
        deferred=open_now[RequestStatus.DEFERRED],
        failed=open_now[RequestStatus.FAILED],
        overdue=open_now["overdue"],
        median_days_to_complete=_days(median),
        max_days_to_complete=_days(longest),
        oldest_open_received_at=q.oldest_open_received(conn),
        ages=tuple(
            AgeBucket(label, buckets[(index, True)], buckets[(index, False)])
            for index, label in enumerate(AGE_BUCKETS)
        ),
    )


def _days(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 86400, 2)


def _backlog(settings: Settings, conn: Connection, period: Period, now: datetime) -> Backlog:
    cutoffs = policy_of(settings).cutoffs(now)
    holds = active_holds_exist(conn, now)
    due = count_due(conn, cutoffs=cutoffs, holds=holds)
    oldest = oldest_due(conn, cutoffs=cutoffs, holds=holds)
    by_rule = (("ttl", due.ttl - due.held_ttl), ("ceiling", due.ceiling - due.held_ceiling))
    history = q.purge_backlog_by_day(conn, period.since, period.until)
    return Backlog(
        total=sum(count for _, count in by_rule),
        by_rule=by_rule,
        held=due.held,
        oldest_due_at=oldest,
        lag_seconds=max(0, int((now - oldest).total_seconds())) if oldest else 0,
        history=tuple(BacklogDay(day, *history.get(day, (0, 0))) for day in period.days()),
    )


def _holds(conn: Connection, period: Period, now: datetime) -> LegalHolds:
    on_leads, on_subjects = q.hold_counts(conn, now)
    actions = q.action_counts(
        conn, [HoldPlaced.ACTION, HoldReleased.ACTION], period.since, period.until
    )
    skips: Counter[str] = Counter({job: 0 for job in _HOLD_JOBS})
    for _, _, _, _, job, events in q.facet_counts(
        conn, LeadHoldSkipped.ACTION, period.since, period.until
    ):
        skips[job or "unknown"] += events
    return LegalHolds(
        active=on_leads + on_subjects,
        active_on_leads=on_leads,
        active_on_subjects=on_subjects,
        placed=actions.get(HoldPlaced.ACTION, 0),
        released=actions.get(HoldReleased.ACTION, 0),
        skips=tuple(skips.items()),
        skipped_total=sum(skips.values()),
    )


def _runs(
    conn: Connection, period: Period, now: datetime, jobs: Sequence[str]
) -> tuple[JobRuns, ...]:
    tally: dict[str, Counter[str]] = {job: Counter() for job in jobs}
    for job, status, dry_run, runs in q.run_counts(conn, period.since, period.until):
        counter = tally.setdefault(job, Counter())
        counter["dry_run" if dry_run else status] += runs
    return tuple(
        JobRuns(
            job=job,
            runs=sum(n for key, n in counter.items() if key != "dry_run"),
            succeeded=counter["succeeded"],
            failed=counter["failed"],
            skipped=counter["skipped"],
            interrupted=counter["interrupted"],
            dry_runs=counter["dry_run"],
            last_success=q.last_run_time(conn, job, "succeeded", period.until),
            last_failure=q.last_run_time(conn, job, "failed", period.until),
        )
        for job, counter in tally.items()
    )


def _audit_chain(
    settings: Settings, engine: Engine, now: datetime, *, walk_in_full: bool, record: bool
) -> AuditChainState:
    """The chain's state, and the newest head of the anchor file checked against it."""
    anchors: dict[int, str] = {}
    anchor_problem = None
    path = settings.audit.anchor_file
    if path is not None and path.exists():
        try:
            published = read_anchor_file(path)
        except InputError as exc:
            anchor_problem = str(exc)
        else:
            if published:
                newest = max(published)
                anchors = {newest: published[newest]}
    walk: FullWalk | None
    if walk_in_full:
        report = verify_audit_chain(engine, anchors=anchors)
        walk = FullWalk(report.head, now) if report.ok else None
        if record:
            record_full_walk(engine, report, now)
    else:
        report, walk = verify_audit_chain_since_last(engine, anchors=anchors)
    anchor = next((f"{event_id}:{digest}" for event_id, digest in anchors.items()), None)
    anchor_ok: bool | None = None
    if anchor_problem is not None:
        anchor_ok = False
    elif anchors:
        if report.ok:
            anchor_ok = True
        elif report.first_bad_event in anchors:
            anchor_ok = False
    return AuditChainState(
        ok=report.ok,
        events=report.events,
        head_event_id=report.head.event_id,
        head_hash=report.head.hash,
        first_bad_event=report.first_bad_event,
        problem=report.problem,
        anchor=anchor,
        anchor_ok=anchor_ok,
        anchor_problem=anchor_problem,
        walked_in_full_through=walk.through.event_id if walk else None,
        walked_in_full_at=walk.at if walk else None,
    )


def policy_in_force(settings: Settings) -> PolicyInForce:
    """The policy the tool enforces with these settings, worded for the record of processing
    activities."""
    policy = policy_of(settings)
    fields = (*settings.erasure.fields, "phoneNumbers")
    years = policy.ceiling_years
    statements = (
        (
            "Retention (TTL)",
            (
                "A lead is hard-deleted, with everything stored about it, once its TTL has passed: "
                "the portal sets it three years after the contact request was made. The purge runs "
                f'on the schedule "{settings.jobs.purge.schedule}" ({settings.scheduler.timezone}).'
            ),
        ),
        (
            "Retention (ceiling)",
            (
                f"Whatever its TTL says, a lead is deleted {years} calendar year"
                f"{'s' if years != 1 else ''} after it was received: a guard against a wrong TTL "
                "from upstream. The audit records which rule deleted each lead."
            ),
        ),
        (
            "Deletion guard",
            (
                f"A purge that would delete more than {policy.guard_max_share:.0%} of the "
                f"store and more than {policy.guard_max_leads} leads stops before deleting "
                "anything until an operator confirms it; so does a clock earlier than the "
                "newest time recorded."
            ),
        ),
        (
            "Erasure",
            (
                "On a seeker's request (by email, phone number or lead id), every lead of "
                f"the seeker has {', '.join(fields[:-1])} set to null and phoneNumbers "
                "emptied, in the columns and in the stored copy of the upstream payload "
                "alike, and is read back to verify that nothing is left. A request is due "
                "through the end of the day one calendar month after it was received (clamped "
                "to the month's last day)."
            ),
        ),
        (
            "Suppression",
            (
                "A completed request keeps only a keyed hash (HMAC-SHA256) of the seeker's "
                "identifier, never the identifier itself: a lead of that seeker imported later is "
                "erased on arrival. A lead the portal delivers already erased erases our copy."
            ),
        ),
        (
            "Legal hold",
            (
                "A lead under legal hold, directly or through its seeker, is neither purged nor "
                "erased; each skip is recorded. A request that meets a held lead erases the others "
                "and stays deferred until the hold is released, then completes at the next run. A "
                "hold needs a reason and may have an end date."
            ),
        ),
        (
            "Evidence",
            (
                "Every deletion, erasure, request, hold and run is recorded in a "
                "hash-chained audit trail that holds no personal data (lead ids, portal, "
                "category, rule, field names, counts); each run publishes the chain's head "
                "outside the database."
            ),
        ),
    )
    return PolicyInForce(
        ceiling_years=years,
        erased_fields=fields,
        guard_max_share=policy.guard_max_share,
        guard_max_leads=policy.guard_max_leads,
        statements=statements,
    )

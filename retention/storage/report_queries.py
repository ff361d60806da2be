"""The compliance report's aggregate queries: GROUP BY in the database over the events'
report columns (migration 0007), the requests, the runs and the holds. No query returns one
row per event or per lead: at most one per day and group, so a report over millions of
events stays fast and flat in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, Connection, Float, and_, case, cast, func, or_, select

from retention.domain.requests import RequestStatus
from retention.storage.holds import active_condition
from retention.storage.schema import audit_events, erasure_requests, job_runs, legal_holds

__all__ = [
    "action_counts",
    "age_buckets",
    "completion_seconds",
    "facet_counts",
    "hold_counts",
    "last_run_time",
    "oldest_open_received",
    "purge_backlog_by_day",
    "request_counts",
    "run_counts",
]


def _day(conn: Connection, column: ColumnElement[datetime]) -> ColumnElement[str]:
    """The UTC day of a UTCDateTime column, as YYYY-MM-DD text."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite stores "YYYY-MM-DD HH:MM:SS.ffffff"


def _seconds_between(
    conn: Connection, start: ColumnElement[datetime], end: ColumnElement[datetime]
) -> ColumnElement[float]:
    if conn.dialect.name == "postgresql":
        return cast(func.extract("epoch", end - start), Float)
    return (func.julianday(end) - func.julianday(start)) * 86400.0


def _in(column: ColumnElement[datetime], since: datetime, until: datetime) -> ColumnElement[bool]:
    return and_(column >= since, column < until)


def facet_counts(
    conn: Connection, action: str, since: datetime, until: datetime
) -> list[tuple[str, str | None, str | None, str | None, str | None, int]]:
    """(day, category, portal, rule, reason, events) of `action` in the period: one row per
    day and combination met (through the (action, occurred_at) index)."""
    day = _day(conn, audit_events.c.occurred_at)
    columns = (audit_events.c.category, audit_events.c.portal, audit_events.c.rule,
               audit_events.c.reason)  # fmt: skip
    rows = conn.execute(
        select(day, *columns, func.count())
        .where(audit_events.c.action == action, _in(audit_events.c.occurred_at, since, until))
        .group_by(day, *columns)
        .order_by(day, *columns)
    ).all()
    return [(str(d), c, p, r, why, int(n)) for d, c, p, r, why, n in rows]


def action_counts(
    conn: Connection, actions: Sequence[str], since: datetime, until: datetime
) -> dict[str, int]:
    rows = conn.execute(
        select(audit_events.c.action, func.count())
        .where(audit_events.c.action.in_(actions), _in(audit_events.c.occurred_at, since, until))
        .group_by(audit_events.c.action)
    ).all()
    return {str(action): int(n) for action, n in rows}


def request_counts(conn: Connection, since: datetime, until: datetime) -> dict[str, int]:
    """Requests received in the period, completed in it, and of those completed late."""
    received = conn.scalar(
        select(func.count()).where(_in(erasure_requests.c.received_at, since, until))
    )
    completed, late = conn.execute(
        select(
            func.count(),
            func.count(case((erasure_requests.c.completed_at > erasure_requests.c.due_at, 1))),
        ).where(
            erasure_requests.c.status == RequestStatus.COMPLETED,
            _in(erasure_requests.c.completed_at, since, until),
        )
    ).one()
    return {"received": int(received or 0), "completed": int(completed), "late": int(late)}


def completion_seconds(
    conn: Connection, since: datetime, until: datetime
) -> tuple[float | None, float | None]:
    """Median and maximum of the time (seconds) the requests completed in the period took:
    the median read at the middle of the ordered durations (one or two rows)."""
    taken = _seconds_between(conn, erasure_requests.c.received_at, erasure_requests.c.completed_at)
    completed = and_(
        erasure_requests.c.status == RequestStatus.COMPLETED,
        _in(erasure_requests.c.completed_at, since, until),
    )
    count, longest = conn.execute(select(func.count(), func.max(taken)).where(completed)).one()
    if not count:
        return None, None
    middle = conn.scalars(
        select(taken)
        .where(completed)
        .order_by(taken)
        .offset((count - 1) // 2)
        .limit(1 if count % 2 else 2)
    ).all()
    return sum(float(v) for v in middle) / len(middle), float(longest)


def age_buckets(
    conn: Connection, since: datetime, until: datetime, now: datetime, limits: Sequence[int]
) -> list[tuple[int, bool, int]]:
    """(bucket, completed, requests): the requests completed in the period by the days they
    took, and those open now by their age; bucket i < len(limits): fewer than limits[i] whole
    days; len(limits): older but not past due; len(limits) + 1: past their due date (completed
    late, or open and overdue)."""
    end = func.coalesce(erasure_requests.c.completed_at, now)
    days = _seconds_between(conn, erasure_requests.c.received_at, end) / 86400.0
    bucket = case(
        (end > erasure_requests.c.due_at, len(limits) + 1),
        *((days < limit, index) for index, limit in enumerate(limits)),
        else_=len(limits),
    )
    is_completed = erasure_requests.c.status == RequestStatus.COMPLETED
    rows = conn.execute(
        select(bucket, is_completed, func.count())
        .where(
            or_(
                and_(is_completed, _in(erasure_requests.c.completed_at, since, until)),
                ~is_completed,
            )
        )
        .group_by(bucket, is_completed)
    ).all()
    return [(int(b), bool(done), int(n)) for b, done, n in rows]


def oldest_open_received(conn: Connection) -> datetime | None:
    open_statuses = [s for s in RequestStatus if s is not RequestStatus.COMPLETED]
    oldest: datetime | None = conn.scalar(
        select(func.min(erasure_requests.c.received_at)).where(
            erasure_requests.c.status.in_(open_statuses)
        )
    )
    return oldest


def hold_counts(conn: Connection, now: datetime) -> tuple[int, int]:
    """Active holds now: (on leads, on subjects)."""
    on_leads, on_subjects = conn.execute(
        select(
            func.count(case((legal_holds.c.lead_id.is_not(None), 1))),
            func.count(case((legal_holds.c.lead_id.is_(None), 1))),
        ).where(active_condition(now))
    ).one()
    return int(on_leads), int(on_subjects)


def run_counts(
    conn: Connection, since: datetime, until: datetime
) -> list[tuple[str, str, bool, int]]:
    """(job, status, dry_run, runs) of the runs started in the period."""
    rows = conn.execute(
        select(job_runs.c.job, job_runs.c.status, job_runs.c.dry_run, func.count())
        .where(_in(job_runs.c.started_at, since, until))
        .group_by(job_runs.c.job, job_runs.c.status, job_runs.c.dry_run)
    ).all()
    return [(str(job), str(status), bool(dry), int(n)) for job, status, dry, n in rows]


def last_run_time(conn: Connection, job: str, status: str, before: datetime) -> datetime | None:
    """When the newest real run of `job` with `status` started before `before` finished: a
    backward walk of the (job, started_at) index that stops at the first match."""
    row = conn.execute(
        select(job_runs.c.finished_at, job_runs.c.started_at)
        .where(
            job_runs.c.job == job,
            job_runs.c.status == status,
            job_runs.c.dry_run.is_(False),
            job_runs.c.started_at < before,
        )
        .order_by(job_runs.c.started_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    finished: datetime = row.finished_at or row.started_at
    return finished


def purge_backlog_by_day(
    conn: Connection, since: datetime, until: datetime
) -> dict[date, tuple[int, int]]:
    """day -> (purge runs, the most leads one found due at its start), real runs only."""
    day = _day(conn, job_runs.c.started_at)
    due = job_runs.c.counts["due_at_start"].as_integer()
    rows = conn.execute(
        select(day, func.count(), func.max(due))
        .where(
            job_runs.c.job == "purge",
            job_runs.c.dry_run.is_(False),
            _in(job_runs.c.started_at, since, until),
        )
        .group_by(day)
    ).all()
    return {date.fromisoformat(str(d)): (int(n), int(most or 0)) for d, n, most in rows}

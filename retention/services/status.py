"""The operator's view of a store (`retention status`): reads only, fast on tens of millions.

No write, no lock (one read-only transaction), and no scan of the leads or the events: index
probes and range counts (capped), the small tables counted whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from retention.config import Settings
from retention.domain.policy import RULES
from retention.services.policy import policy_of
from retention.storage.audit import ChainHead, read_head
from retention.storage.due_leads import count_due_capped, oldest_due
from retention.storage.engine import READ_ONLY, SCHEMA_REVISION, current_revision
from retention.storage.holds import active_hold_count, active_holds_exist
from retention.storage.requests import open_request_counts
from retention.storage.runs import RunRow, last_checks, latest_runs

__all__ = [
    "DUE_CAP",
    "DueNow",
    "JobState",
    "RequestCounts",
    "StoreStatus",
    "last_activity",
    "problems_of",
    "read_status",
]

# Leads due are counted exactly up to this many per rule (a store never purged has millions).
DUE_CAP = 1_000_000


@dataclass(frozen=True, slots=True)
class JobState:
    job: str
    last_run: RunRow | None  # the newest run recorded (dry runs aside)
    last_success: RunRow | None
    last_check: datetime | None  # the newest idle check (heartbeat)


@dataclass(frozen=True, slots=True)
class DueNow:
    ttl: int  # leads due now under each rule, held ones included (at most DUE_CAP each)
    ceiling: int
    held: int  # of those, kept by a legal hold
    capped: bool  # a rule has more than DUE_CAP due


@dataclass(frozen=True, slots=True)
class RequestCounts:
    pending: int
    deferred: int
    failed: int
    overdue: int  # open and past their due date


@dataclass(frozen=True, slots=True)
class StoreStatus:
    now: datetime
    jobs: tuple[JobState, ...]
    due: DueNow
    purge_lag_seconds: int  # how long ago the oldest lead still present (not held) became due
    requests: RequestCounts
    holds: int  # active legal holds
    audit_head: ChainHead
    schema_revision: str | None
    schema_current: bool


def _job_state(conn: Connection, job: str, checks: dict[str, datetime]) -> JobState:
    return JobState(
        job,
        latest_runs(conn, job),
        latest_runs(conn, job, statuses=("succeeded",)),
        checks.get(job),
    )


def read_status(
    settings: Settings, engine: Engine, jobs: Sequence[str], *, now: datetime
) -> StoreStatus:
    """Everything `retention status` shows but the schedule, read in one transaction."""
    revision = current_revision(engine)
    cutoffs = policy_of(settings).cutoffs(now)
    with engine.connect().execution_options(**READ_ONLY) as conn:
        checks = last_checks(conn)
        holds = active_holds_exist(conn, now)
        counted = count_due_capped(conn, cutoffs=cutoffs, holds=holds, cap=DUE_CAP)
        since = oldest_due(conn, cutoffs=cutoffs, holds=holds)
        return StoreStatus(
            now=now,
            jobs=tuple(_job_state(conn, job, checks) for job in jobs),
            due=DueNow(
                ttl=counted["ttl"],
                ceiling=counted["ceiling"],
                held=counted["held"],
                capped=any(counted[rule] >= DUE_CAP for rule in RULES),
            ),
            purge_lag_seconds=int((now - since).total_seconds()) if since is not None else 0,
            requests=RequestCounts(**open_request_counts(conn, now=now)),
            holds=active_hold_count(conn, now) if holds else 0,
            audit_head=read_head(conn),
            schema_revision=revision,
            schema_current=revision == SCHEMA_REVISION,
        )


def last_activity(engine: Engine, jobs: Sequence[str]) -> dict[str, datetime]:
    """When each job last ran or checked (its newest run's start, its heartbeat)."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        checks = last_checks(conn)
        found: dict[str, datetime] = {}
        for job in jobs:
            run = latest_runs(conn, job)
            times = [t for t in (run.started_at if run else None, checks.get(job)) if t]
            if times:
                found[job] = max(times)
        return found


def problems_of(status: StoreStatus, *, max_lag_seconds: int) -> list[str]:
    """What `retention status --check` fails on: a job whose last run failed, an overdue
    request, a purge lag over the limit. Empty: all is well."""
    problems = [
        f"{state.job}: last run {state.last_run.id} failed ({state.last_run.error or 'no reason'})"
        for state in status.jobs
        if state.last_run is not None and state.last_run.status == "failed"
    ]
    if status.requests.overdue:
        problems.append(f"{status.requests.overdue} erasure request(s) overdue")
    if status.purge_lag_seconds > max_lag_seconds:
        problems.append(
            f"purge lag {status.purge_lag_seconds} s, more than status.max_lag_seconds "
            f"({max_lag_seconds} s)"
        )
    return problems

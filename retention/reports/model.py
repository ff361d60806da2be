"""The compliance report's figures (SPEC section 7), as plain values the renderers share.

Built by services/report.py from aggregate queries; rendered by reports/render_*.py. Nothing
here holds personal data: counts, dates, lead ids of no one, job names, hashes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = [
    "AGE_BUCKETS",
    "AgeBucket",
    "AuditChainState",
    "Backlog",
    "BacklogDay",
    "DayCount",
    "Erased",
    "ErasureRequests",
    "JobRuns",
    "LegalHolds",
    "Period",
    "PolicyInForce",
    "Purged",
    "Report",
]


@dataclass(frozen=True, slots=True)
class Period:
    """From `since` (included) to `until` (excluded), UTC."""

    since: datetime
    until: datetime

    @property
    def last_moment(self) -> datetime:
        return self.until - timedelta(microseconds=1)

    @property
    def whole_days(self) -> bool:
        return self.since.time() == self.until.time() == datetime.min.time()

    def days(self) -> tuple[date, ...]:
        """Every UTC day the period touches, in order."""
        first, last = self.since.date(), self.last_moment.date()
        return tuple(first + timedelta(days=n) for n in range((last - first).days + 1))

    def label(self) -> str:
        """The period in a file name: report_<label>.<format>."""
        if self.whole_days:
            return f"{self.since:%Y-%m-%d}_{self.last_moment:%Y-%m-%d}"
        return f"{self.since:%Y%m%dT%H%M%SZ}_{self.until:%Y%m%dT%H%M%SZ}"


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True, slots=True)
class Purged:
    """Leads hard-deleted in the period (lead.purged events)."""

    total: int
    by_rule: tuple[tuple[str, int], ...]  # every rule, in RULES order
    by_portal: tuple[tuple[str, int], ...]  # portals met, by name
    by_category: tuple[tuple[str, int], ...]  # every category, in CATEGORIES order
    by_day: tuple[DayCount, ...]  # every day of the period


@dataclass(frozen=True, slots=True)
class Erased:
    """Leads whose contact data was erased in the period (lead.erased events), by source:
    a seeker's request, a later import of an erased seeker (suppression), the upstream."""

    total: int
    by_source: tuple[tuple[str, int], ...]  # every reason, in ERASURE_REASONS order
    by_day: tuple[DayCount, ...]


# Requests by age against the one-month deadline: completed ones by the time they took, open
# ones by their age now; a request past its due date is in "overdue" whatever its age.
AGE_BUCKETS = ("0-7 days", "8-14 days", "15-21 days", "22-28 days", "29+ days, not yet due",
               "overdue")  # fmt: skip


@dataclass(frozen=True, slots=True)
class AgeBucket:
    label: str
    completed: int  # completed in the period, this long after they were received
    open: int  # open now, this old


@dataclass(frozen=True, slots=True)
class ErasureRequests:
    received: int  # in the period
    completed: int  # in the period
    completed_late: int  # of those, after their due date
    pending: int  # now (at the report's generation)
    deferred: int
    failed: int
    overdue: int  # open now and past their due date
    median_days_to_complete: float | None  # of those completed in the period
    max_days_to_complete: float | None
    oldest_open_received_at: datetime | None
    ages: tuple[AgeBucket, ...]  # AGE_BUCKETS, in order


@dataclass(frozen=True, slots=True)
class BacklogDay:
    """The purge runs of one day: the most leads one found due when it started."""

    day: date
    runs: int
    max_due_at_start: int


@dataclass(frozen=True, slots=True)
class Backlog:
    """Leads due but still present now: should be 0 (held leads are counted apart)."""

    total: int  # due and not held
    by_rule: tuple[tuple[str, int], ...]  # due and not held, by the rule that makes them due
    held: int  # due but kept by a legal hold
    oldest_due_at: datetime | None  # when the oldest of `total` became due
    lag_seconds: int
    history: tuple[BacklogDay, ...]  # every day of the period


@dataclass(frozen=True, slots=True)
class LegalHolds:
    active: int  # now
    active_on_leads: int
    active_on_subjects: int
    placed: int  # in the period
    released: int  # in the period
    skips: tuple[tuple[str, int], ...]  # lead.hold_skipped in the period, by job
    skipped_total: int


@dataclass(frozen=True, slots=True)
class JobRuns:
    """The recorded runs of one job started in the period (dry runs apart)."""

    job: str
    runs: int
    succeeded: int
    failed: int
    skipped: int  # another run held the lock
    interrupted: int
    dry_runs: int
    last_success: datetime | None  # ever, not only in the period
    last_failure: datetime | None


@dataclass(frozen=True, slots=True)
class AuditChainState:
    ok: bool
    events: int  # in the chain, at its head
    head_event_id: int | None
    head_hash: str
    first_bad_event: int | None
    problem: str | None
    anchor: str | None  # the newest head of audit.anchor_file, checked against the chain
    anchor_ok: bool | None  # None: no anchor file, or the walk stopped before the anchor
    anchor_problem: str | None = None  # the anchor file could not be read, or was tampered
    # The walk of the whole chain this state builds on (events after it were walked now);
    # None: there was none (or it no longer holds), and the whole chain was walked now.
    walked_in_full_through: int | None = None
    walked_in_full_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PolicyInForce:
    """The policy, for the record of processing activities (GDPR article 30)."""

    ceiling_years: int
    erased_fields: tuple[str, ...]  # phoneNumbers last (it becomes [], the others null)
    guard_max_share: float
    guard_max_leads: int
    statements: tuple[tuple[str, str], ...]  # (topic, sentence), in order


@dataclass(frozen=True, slots=True)
class Report:
    generated_at: datetime
    period: Period
    purged: Purged
    erased: Erased
    erasure_requests: ErasureRequests
    backlog: Backlog
    legal_holds: LegalHolds
    runs: tuple[JobRuns, ...]  # every job of the registry, in its order
    audit_chain: AuditChainState
    policy: PolicyInForce

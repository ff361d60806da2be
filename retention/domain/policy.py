"""The retention policy: when a lead is due, and when a run must refuse to delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = [
    "RULES",
    "Cutoffs",
    "GuardVerdict",
    "RetentionPolicy",
    "check_blast_radius",
    "check_clock",
    "years_before",
]


def years_before(moment: datetime, years: int) -> datetime:
    """The same calendar date and time `years` earlier; 29 February becomes 28 February."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


RULES = ("ttl", "ceiling")


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """The retention rule, at one instant: a lead is due when its TTL is at or before `ttl`
    (rule `ttl`), or, whatever its TTL, when it was ingested at or before `ceiling` (rule
    `ceiling`). The purge's SQL (storage/due_leads.py) and the import are built from this."""

    ttl: datetime  # now
    ceiling: datetime

    def ceiling_reached(self, ingestion_date: datetime) -> datetime:
        """When a lead ingested then becomes due under the ceiling: the first instant whose
        ceiling cut-off reaches it (ingested 29 February: 1 March, the cut-off's 28 February
        being earlier)."""
        years = self.ttl.year - self.ceiling.year
        try:
            return ingestion_date.replace(year=ingestion_date.year + years)
        except ValueError:
            return ingestion_date.replace(year=ingestion_date.year + years, month=3, day=1,
                                          hour=0, minute=0, second=0)  # fmt: skip

    def rule_of(self, ttl: datetime, ingestion_date: datetime) -> str | None:
        """`ttl` or `ceiling` when a lead with these dates is due (ttl first), else None."""
        if ttl <= self.ttl:
            return "ttl"
        if ingestion_date <= self.ceiling:
            return "ceiling"
        return None


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """A lead is due when `ttl <= now` (rule `ttl`) or, whatever its TTL says, when it was
    ingested `ceiling_years` calendar years or more before now (rule `ceiling`).

    The guard refuses a run that would delete more than `guard_max_share` of the store and
    more than `guard_max_leads` leads. Clocks may disagree by `max_clock_skew_seconds`: no lead
    is ingested later than that after now, and a run's clock may lag that far behind the
    newest time this tool recorded.
    """

    ceiling_years: int
    guard_max_share: float
    guard_max_leads: int
    max_clock_skew_seconds: int = 300

    def ceiling_cutoff(self, now: datetime) -> datetime:
        """Leads ingested at or before this instant are due under the ceiling rule."""
        return years_before(now, self.ceiling_years)

    def cutoffs(self, now: datetime) -> Cutoffs:
        """The rule's cut-offs at `now`, computed once for a run or an import."""
        return Cutoffs(now, self.ceiling_cutoff(now))

    def latest_ingestion(self, now: datetime) -> datetime:
        """An ingestion date later than this, at `now`, is in the future: refused."""
        return now + timedelta(seconds=self.max_clock_skew_seconds)


@dataclass(frozen=True, slots=True)
class GuardVerdict:
    allowed: bool
    reason: str | None = None


def check_blast_radius(due: int, total: int, policy: RetentionPolicy) -> GuardVerdict:
    """Refuse when `due` exceeds both the share of the store and the absolute limit."""
    if total == 0 or due <= policy.guard_max_leads:
        return GuardVerdict(True)
    share = due / total
    if share <= policy.guard_max_share:
        return GuardVerdict(True)
    return GuardVerdict(
        False,
        f"{due} of {total} leads ({share:.0%}) are due, more than the guard allows "
        f"({policy.guard_max_share:.0%} of the store and {policy.guard_max_leads} leads)",
    )


def check_clock(
    now: datetime, newest_recorded: datetime | None, policy: RetentionPolicy
) -> GuardVerdict:
    """Refuse a clock earlier than the newest time this tool recorded itself (its newest
    audit event, its last run's start), by more than the allowed skew: the clock went back,
    and nothing it says can be trusted. Upstream dates are not used: one lead dated in the
    future would stop every purge until that date."""
    if newest_recorded is None:
        return GuardVerdict(True)
    if now + timedelta(seconds=policy.max_clock_skew_seconds) < newest_recorded:
        return GuardVerdict(
            False,
            f"the clock ({now:%Y-%m-%dT%H:%M:%SZ}) is earlier than the newest time this tool "
            f"recorded ({newest_recorded:%Y-%m-%dT%H:%M:%SZ}, its last run or audit event)",
        )
    return GuardVerdict(True)

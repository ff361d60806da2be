"""The retention policy: when a lead is due, and when a run must refuse to delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = [
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


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """A lead is due when `ttl <= now` (rule `ttl`) or, whatever its TTL says, when it was
    ingested `ceiling_years` calendar years or more before now (rule `ceiling`).

    The guard refuses a run that would delete more than `guard_max_share` of the store and
    more than `guard_max_leads` leads.
    """

    ceiling_years: int
    guard_max_share: float
    guard_max_leads: int

    def ceiling_cutoff(self, now: datetime) -> datetime:
        """Leads ingested at or before this instant are due under the ceiling rule."""
        return years_before(now, self.ceiling_years)

    def due_rule(self, ttl: datetime, ingestion_date: datetime, now: datetime) -> str | None:
        """`ttl` or `ceiling` when the lead is due at `now` (ttl first), else None."""
        if ttl <= now:
            return "ttl"
        if ingestion_date <= self.ceiling_cutoff(now):
            return "ceiling"
        return None


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


def check_clock(now: datetime, newest_ingestion: datetime | None) -> GuardVerdict:
    """Refuse a clock earlier than the newest lead's ingestion date: the clock is wrong."""
    if newest_ingestion is not None and now < newest_ingestion:
        return GuardVerdict(
            False,
            f"the clock ({now:%Y-%m-%dT%H:%M:%SZ}) is earlier than the newest lead's ingestion "
            f"date ({newest_ingestion:%Y-%m-%dT%H:%M:%SZ})",
        )
    return GuardVerdict(True)

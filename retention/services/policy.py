"""The retention policy in force, from the settings."""

from __future__ import annotations

from retention.config import Settings
from retention.domain.policy import RetentionPolicy

__all__ = ["policy_of"]


def policy_of(settings: Settings) -> RetentionPolicy:
    retention = settings.retention
    return RetentionPolicy(
        ceiling_years=retention.ceiling_years,
        guard_max_share=retention.guard_max_share,
        guard_max_leads=retention.guard_max_leads,
        max_clock_skew_seconds=retention.max_clock_skew_seconds,
    )

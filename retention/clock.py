"""The only place that reads the system clock. A run reads it once and passes `now` down."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time, aware UTC, truncated to the second like every stored time."""
    return datetime.now(UTC).replace(microsecond=0)

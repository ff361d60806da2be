"""The only place that reads the system clock. A run reads it once and passes `now` down.

`simulated` moves the clock for a block (it goes on ticking from there): `retention demo`
plays a month of daily runs in a few seconds with it. Nothing else moves the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

__all__ = ["simulated", "utcnow"]

_offset = timedelta(0)


def utcnow() -> datetime:
    """Return the current time, aware UTC, truncated to the second like every stored time."""
    return (datetime.now(UTC) + _offset).replace(microsecond=0)


@contextmanager
def simulated(moment: datetime) -> Iterator[None]:
    """Within the block, the clock reads `moment` on entry and ticks on from there."""
    global _offset
    previous = _offset
    _offset = moment - datetime.now(UTC)
    try:
        yield
    finally:
        _offset = previous

"""Job names, as `retention run JOB` and the scheduler know them."""

from __future__ import annotations

__all__ = ["JOBS"]

JOBS = ("purge", "erasure")

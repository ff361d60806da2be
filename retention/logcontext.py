"""Which job and run a log line belongs to, for every line of a run, whatever module logs it.

The job runner and the scheduler set the context (`job_context`); `ContextFilter`, which the
command line puts on its log handler, adds `job` and `run_id` to each record that does not
name them. Threads a run starts (the erasure's workers) carry the context over with
`contextvars.copy_context()`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["ContextFilter", "job_context"]

_CURRENT: ContextVar[tuple[str, int | None] | None] = ContextVar("retention_run", default=None)


@contextmanager
def job_context(job: str, run_id: int | None) -> Iterator[None]:
    """Within the block, log records name `job` and `run_id` (None: no run recorded)."""
    token = _CURRENT.set((job, run_id))
    try:
        yield
    finally:
        _CURRENT.reset(token)


class ContextFilter(logging.Filter):
    """Adds the current job and run id to a record that has none of its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _CURRENT.get()
        if current is not None:
            job, run_id = current
            if not hasattr(record, "job"):
                record.job = job
            if not hasattr(record, "run_id") and run_id is not None:
                record.run_id = run_id
        return True

"""The jobs, by the names `retention run JOB`, the scheduler and the metrics know them.

Each job is a function `(settings, engine, *, dry_run=False, observer=None, should_stop=None)
-> JobRun` that runs it once under its lock (jobs/runner.py). Adding a job is adding it here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import Engine

from jobs.erasure import erasure_job
from jobs.purge import purge_job
from jobs.runner import JobRun
from retention.config import Settings
from retention.services.observer import RunObserver

__all__ = ["JOBS", "Job"]


class Job(Protocol):
    def __call__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        dry_run: bool = False,
        observer: RunObserver | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> JobRun[Any]: ...


JOBS: Mapping[str, Job] = {"purge": purge_job, "erasure": erasure_job}

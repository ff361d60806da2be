"""The jobs, by the names `retention run JOB`, the scheduler and the metrics know them.

Each job is a function `(settings, engine, **run: RunArgs) -> JobRun` (dry_run, observer,
should_stop) that runs it once under its lock (jobs/runner.py). Adding a job is adding it here
(and its command-line rendering in retention/cli/run.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, Unpack

from sqlalchemy import Engine

from jobs.erasure import erasure_job
from jobs.purge import purge_job
from jobs.report import report_job
from jobs.runner import JobRun, RunArgs
from retention.config import Settings

__all__ = ["JOBS", "Job"]


class Job(Protocol):
    def __call__(
        self, settings: Settings, engine: Engine, **run: Unpack[RunArgs]
    ) -> JobRun[Any]: ...


JOBS: Mapping[str, Job] = {"purge": purge_job, "erasure": erasure_job, "report": report_job}

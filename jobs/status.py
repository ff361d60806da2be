"""The operator's view with the schedule: what the store says (services/status.py), when each
job runs next (the scheduler's triggers), and what `retention status --check` fails on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from jobs.registry import JOBS
from jobs.scheduler import next_run_times
from retention.config import Settings
from retention.services.status import StoreStatus, problems_of, read_status

__all__ = ["OperatorStatus", "operator_status"]


@dataclass(frozen=True, slots=True)
class OperatorStatus:
    store: StoreStatus
    next_runs: dict[str, datetime | None]  # None: the job is disabled
    problems: list[str]  # empty: `status --check` exits 0


def operator_status(settings: Settings, engine: Engine, *, now: datetime) -> OperatorStatus:
    store = read_status(settings, engine, list(JOBS), now=now)
    problems = problems_of(store, max_lag_seconds=settings.status.max_lag_seconds)
    return OperatorStatus(store, next_run_times(settings, now), problems)

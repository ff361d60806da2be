"""The long-running scheduler: the jobs of the registry on their cron triggers (APScheduler 3.x).

The only module that imports APScheduler. `build_scheduler` returns an unstarted
BackgroundScheduler; `retention scheduler` starts it and waits for SIGTERM/SIGINT.

- Each enabled job has its cron trigger from `[jobs.NAME] schedule` in `[scheduler] timezone`,
  an explicit id (the job's name), max_instances=1 (a run still going when the next trigger
  fires is not started twice), coalesce=True and no misfire grace limit: a run that is late,
  however late, runs once, never zero times, never once per missed trigger.
- The job store is APScheduler's memory store: several schedulers on several hosts must not
  share one. Whether a trigger was missed while the scheduler was down is decided from the
  store's own records (the job's last run or heartbeat): a missed one runs once at start.
- Every run takes its job's lock (jobs/runner.py), so two schedulers, or a scheduler and a
  cron line, never run the same job at once; and looks first (check_first): nothing to do is
  only a heartbeat.
- A run that fails (the database down included) is logged, its row is closed as failed by the
  next run of the job, and the scheduler goes on to the next trigger.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from prometheus_client import start_http_server
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from jobs.metrics import MetricsObserver, metrics_registry
from jobs.registry import JOBS
from jobs.signals import stop_requested_on_signals
from retention import clock
from retention.config import Settings
from retention.errors import ConfigError, DatabaseUnavailableError, RetentionError
from retention.logcontext import job_context
from retention.services.observer import RunObserver
from retention.services.status import last_activity
from retention.storage.engine import describe_error

__all__ = ["ScheduledRuns", "build_scheduler", "enabled_triggers", "next_run_times", "serve"]

logger = logging.getLogger(__name__)


# One run of a job at a time; a late run (however late: no grace limit, APScheduler's default
# of one second would drop it) runs once, however many of its triggers it missed.
_JOB_OPTIONS: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
_SECOND = timedelta(seconds=1)


def enabled_triggers(settings: Settings) -> dict[str, CronTrigger]:
    """The cron trigger of each enabled job; ConfigError naming the key of a bad one."""
    zone = ZoneInfo(settings.scheduler.timezone)
    triggers: dict[str, CronTrigger] = {}
    for name in JOBS:
        job_settings = getattr(settings.jobs, name)
        if not job_settings.enabled:
            continue
        try:
            triggers[name] = CronTrigger.from_crontab(job_settings.schedule, timezone=zone)
        except ValueError as exc:
            raise ConfigError(f"jobs.{name}.schedule", str(exc)) from None
    return triggers


def next_run_times(settings: Settings, now: datetime) -> dict[str, datetime | None]:
    """When each job's trigger fires next after `now` (None: the job is disabled)."""
    triggers = enabled_triggers(settings)
    return {
        name: triggers[name].get_next_fire_time(None, now + _SECOND) if name in triggers else None
        for name in JOBS
    }


@dataclass
class ScheduledRuns:
    """What each trigger calls: one run of a job, which looks first; never raises."""

    settings: Settings
    engine_of: Callable[[], Engine]  # the store's engine, opened on first use
    stop: threading.Event  # set on SIGTERM/SIGINT: a run stops after its batch in flight
    observer: RunObserver | None = None
    engine: Engine | None = field(default=None, init=False)

    def run(self, name: str) -> None:
        with job_context(name, None):
            logger.info("%s triggered", name)
            if self.stop.is_set():
                logger.info("%s not started: the scheduler is stopping", name)
                return
            try:
                if self.engine is None:
                    self.engine = self.engine_of()
                run = JOBS[name](
                    self.settings, self.engine, check_first=True, observer=self.observer,
                    should_stop=self.stop.is_set,
                )  # fmt: skip
            except (RetentionError, DBAPIError) as exc:
                unavailable = isinstance(exc, DatabaseUnavailableError | DBAPIError)
                logger.error(
                    "%s run failed: %s%s", name, describe_error(exc),
                    "; the scheduler tries again at the next trigger" if unavailable else "",
                )  # fmt: skip
                return
            except Exception as exc:  # a bug must not stop the other jobs' triggers
                logger.exception("%s run failed: %s", name, describe_error(exc))
                return
            if run.outcome.status == "idle":
                logger.info("%s: nothing to do (heartbeat recorded)", name)


def _missed(engine: Engine | None, triggers: Mapping[str, CronTrigger], now: datetime) -> set[str]:
    """The jobs whose trigger fired since their last run or heartbeat (the scheduler was
    down, or late): each of them runs once at start."""
    if engine is None:
        return set()
    activity = last_activity(engine, list(triggers))
    missed = set()
    for name, trigger in triggers.items():
        last = activity.get(name)
        # The first trigger after it (the run's own trigger time is not "after" it).
        due = trigger.get_next_fire_time(None, last + _SECOND) if last is not None else None
        if due is not None and due <= now:
            missed.add(name)
    return missed


def build_scheduler(
    settings: Settings,
    runs: ScheduledRuns,
    *,
    engine: Engine | None,
    now: datetime | None = None,
) -> BackgroundScheduler:
    """The scheduler, not started: one APScheduler job per enabled job. `engine`: the store,
    when it answered at start (for the missed runs; None: none are looked for)."""
    moment = now or clock.utcnow()
    triggers = enabled_triggers(settings)
    missed = _missed(engine, triggers, moment)
    scheduler = BackgroundScheduler(
        timezone=ZoneInfo(settings.scheduler.timezone),
        executors={"default": ThreadPoolExecutor(max_workers=max(len(triggers), 1))},
        job_defaults=_JOB_OPTIONS,
    )
    for name, trigger in triggers.items():
        next_run: Any = moment if name in missed else trigger.get_next_fire_time(None, moment)
        scheduler.add_job(
            runs.run, trigger=trigger, args=[name], id=name, name=name,
            replace_existing=True, next_run_time=next_run, **_JOB_OPTIONS,
        )  # fmt: skip
        logger.info(
            "%s scheduled: %s (%s), next run %s%s", name, getattr(settings.jobs, name).schedule,
            settings.scheduler.timezone, f"{next_run:%Y-%m-%dT%H:%M:%S%z}",
            " (a run was missed while the scheduler was down)" if name in missed else "",
        )  # fmt: skip
    return scheduler


def serve(settings: Settings, engine_of: Callable[[], Engine]) -> None:
    """`retention scheduler`: run the jobs on their triggers until SIGTERM or SIGINT, then let
    the runs in flight finish their batch and return. The config is checked before anything
    starts (ConfigError); a store that does not answer at start is tried again at each
    trigger, one whose schema is not current stops it (SchemaNotCurrentError)."""
    enabled_triggers(settings)
    with stop_requested_on_signals() as stop:
        engine: Engine | None
        try:
            engine = engine_of()
        except DatabaseUnavailableError as exc:
            logger.error("the store does not answer (%s): the scheduler tries at each trigger", exc)
            engine = None
        runs = ScheduledRuns(settings, engine_of, stop)
        runs.engine = engine
        metrics = MetricsObserver(settings, lambda: runs.engine)
        runs.observer = metrics if MetricsObserver.wanted(settings) else None
        scheduler = build_scheduler(settings, runs, engine=engine)
        if settings.metrics.port:
            registry = metrics_registry(settings, lambda: runs.engine)
            start_http_server(settings.metrics.port, settings.metrics.address, registry=registry)
            logger.info(
                "metrics on http://%s:%d/metrics", settings.metrics.address, settings.metrics.port
            )
        scheduler.start()
        logger.info("scheduler started: %s", ", ".join(job.id for job in scheduler.get_jobs()))
        stop.wait()
        logger.info("scheduler stopping: the runs in flight finish their batch")
        scheduler.shutdown(wait=True)
    logger.info("scheduler stopped")

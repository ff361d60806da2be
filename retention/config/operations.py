"""The settings of running the jobs unattended, each declared once like those of
settings.py: the jobs' schedules ([jobs.NAME]), the scheduler, `retention status`, the
metrics and the logs. `Settings` (settings.py) holds them beside the store's and the rules'.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retention.config.checks import (
    boolean,
    cron_expression,
    folder_path,
    one_of,
    optional_http_url,
    optional_path,
    report_formats,
    text,
    time_zone,
    whole_number,
)
from retention.config.schema import setting, table

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def _schedule(default: str, comment: str) -> Any:
    """A job's `schedule` key: a five-field cron expression."""
    return setting(default, cron_expression, comment)


def _enabled(comment: str = "") -> Any:
    return setting(True, boolean, comment)


@dataclass(frozen=True, slots=True)
class PurgeJobSettings:
    schedule: str = _schedule(
        "* * * * *",
        """
        When `retention scheduler` runs each job: a five-field cron expression (minute hour
        day-of-month month day-of-week) in scheduler.timezone. The purge's check every minute
        keeps a lead at most about a minute past its TTL; a check that finds nothing due costs
        an index probe per rule and records only a heartbeat (no run, no audit event).
        """,
    )
    enabled: bool = _enabled("false: the scheduler does not run this job.")


@dataclass(frozen=True, slots=True)
class ErasureJobSettings:
    """[jobs.erasure]: the queued erasure requests, every 15 minutes by default."""

    schedule: str = _schedule(
        "*/15 * * * *",
        """
        Erasure requests are due within a month; the job also vacuums the dead rows that
        `retention erase` and imports leave (PostgreSQL).
        """,
    )
    enabled: bool = _enabled()


@dataclass(frozen=True, slots=True)
class ReportJobSettings:
    """[jobs.report]: the compliance report of the last period, daily at 06:00 by default."""

    schedule: str = _schedule(
        "0 6 * * *",
        """
        Each run writes the report of the `days` whole days (UTC) before the day it runs, one
        file per format named after the period (report_2026-11-02_2026-12-01.html): a run
        for the same period again replaces that period's files, never another period's.
        """,
    )
    enabled: bool = _enabled()
    folder: Path = setting(
        "reports",
        folder_path,
        "Where the files go (relative to the config file; the default to the working directory).",
        path=True,
    )
    formats: tuple[str, ...] = setting(
        ["html", "json"],
        report_formats,
        'Any of "html" (for people), "json", "csv" (for tools) and "text".',
    )
    days: int = setting(30, whole_number(1, 366), "The period's length in days.")


@dataclass(frozen=True, slots=True)
class JobsSettings:
    """One table per job: [jobs.purge], [jobs.erasure], [jobs.report]."""

    purge: PurgeJobSettings = table()
    erasure: ErasureJobSettings = table()
    report: ReportJobSettings = table()


@dataclass(frozen=True, slots=True)
class SchedulerSettings:
    timezone: str = setting(
        "UTC",
        time_zone,
        """
        The time zone of the jobs' cron expressions (an IANA name: UTC, Europe/Paris, ...). Runs
        missed while the scheduler was down run once when it is back, never once per missed
        trigger; several schedulers may share a store (each run takes its job's lock).
        """,
    )


@dataclass(frozen=True, slots=True)
class StatusSettings:
    max_lag_seconds: int = setting(
        300,
        whole_number(1),
        """
        `retention status --check` exits 1 when the oldest lead still present became due longer
        ago than this (purge_lag_seconds), as well as when a job's last run failed or an
        erasure request is overdue.
        """,
    )


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    textfile: Path | None = setting(
        "",
        optional_path,
        """
        Prometheus metrics (no personal data). A file for node_exporter's textfile collector,
        rewritten atomically after every run and check (e.g.
        /var/lib/node_exporter/textfile/retention.prom; relative to the config file).
        """,
        path=True,
    )
    pushgateway: str | None = setting(
        "",
        optional_http_url,
        "A Prometheus push gateway to push them to after every run, e.g. http://pushgateway:9091.",
    )
    port: int = setting(
        0,
        whole_number(0, 65535),
        """
        `retention scheduler` serves them over HTTP at /metrics on this port (0: off); also a
        liveness probe for the long-running scheduler.
        """,
    )
    address: str = setting(
        "127.0.0.1",
        text,
        "The address /metrics listens on (0.0.0.0 in a container, for the probe and scraping).",
    )


@dataclass(frozen=True, slots=True)
class LoggingSettings:
    format: str = setting(
        "text",
        one_of(LOG_FORMATS),
        """
        text: one human-readable line per event; json: one JSON object per line (for log
        shippers). Logs go to stderr and never contain names, emails, phone numbers or messages.
        """,
    )
    level: str = setting(
        "info",
        one_of(LOG_LEVELS),
        "debug, info, warning or error. -v lowers it to debug, -q raises it to warning.",
    )

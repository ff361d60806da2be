"""Prometheus metrics (prometheus-client): read from the store whenever they are exported.

Every value comes from the store itself, so a textfile written by a one-off `retention run`,
a push, and a scrape of the long-running scheduler all say the same, and a counter never goes
back when a process restarts: the totals are the audit chain's event counts (audit_counts),
the rest what `retention status` reads. No personal data: counts, times and job names.

Exported three ways (SPEC section 8): a textfile for node_exporter (`[metrics] textfile`,
written atomically after every run and check), a push gateway (`[metrics] pushgateway`), and
`/metrics` over HTTP from `retention scheduler` (`[metrics] port`). `MetricsObserver` is the
one hook that exports them after each run; no job writes metrics itself.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, push_to_gateway, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from jobs.registry import JOBS
from retention import clock
from retention.config import Settings
from retention.domain.events import LeadErased, LeadHoldSkipped, LeadPurged
from retention.errors import RetentionError
from retention.services.observer import RunObserver
from retention.services.status import StoreStatus, read_status
from retention.storage.audit import event_counts
from retention.storage.engine import READ_ONLY, describe_error

__all__ = ["METRICS", "MetricsObserver", "StoreCollector", "metrics_registry"]

logger = logging.getLogger(__name__)

# Every metric and what it means (the README lists them from here).
METRICS: Mapping[str, str] = {
    "retention_store_up": "1 when the store answered the last collection, else 0",
    "retention_leads_purged_total": "leads hard-deleted by the purge (lead.purged events)",
    "retention_leads_erased_total": "leads whose contact data was erased (lead.erased events)",
    "retention_lead_hold_skips_total": "skips of a held lead (lead.hold_skipped events)",
    "retention_audit_events_total": "events in the audit chain",
    "retention_leads_due": "leads due now, by rule, held ones included",
    "retention_leads_due_held": "of the leads due now, those a legal hold keeps",
    "retention_purge_lag_seconds": "how long ago the oldest lead still present became due",
    "retention_requests_pending": "erasure requests pending",
    "retention_requests_deferred": "erasure requests deferred by a legal hold",
    "retention_requests_failed": "erasure requests that failed their verification",
    "retention_requests_overdue": "open erasure requests past their due date",
    "retention_holds_active": "legal holds in force",
    "retention_job_last_run_timestamp_seconds": "start of the job's last run",
    "retention_job_last_success_timestamp_seconds": "end of the job's last successful run",
    "retention_job_last_check_timestamp_seconds": "the job's last check that found nothing",
    "retention_job_duration_seconds": "wall time of the job's last run",
    "retention_job_last_run_failed": "1 when the job's last run failed, else 0",
}
_TOTALS = {
    "retention_leads_purged_total": LeadPurged.ACTION,
    "retention_leads_erased_total": LeadErased.ACTION,
    "retention_lead_hold_skips_total": LeadHoldSkipped.ACTION,
}


class StoreCollector(Collector):
    """Reads the store at each collection; a store that does not answer gives
    retention_store_up 0 and nothing else."""

    def __init__(self, settings: Settings, engine_of: Callable[[], Engine | None]) -> None:
        self._settings = settings
        self._engine_of = engine_of

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("retention_store_up", METRICS["retention_store_up"])
        engine = self._engine_of()
        try:
            if engine is None:
                raise RetentionError("the store is not open")
            status = read_status(self._settings, engine, list(JOBS), now=clock.utcnow())
            with engine.connect().execution_options(**READ_ONLY) as conn:
                counts = event_counts(conn)
        except (RetentionError, DBAPIError) as exc:
            logger.warning("metrics: the store did not answer: %s", describe_error(exc))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _totals(counts)
        yield from _store_gauges(status)
        yield from _job_gauges(status)


def _gauge(name: str, value: float, labels: Mapping[str, str] | None = None) -> Any:
    family = GaugeMetricFamily(name, METRICS[name], labels=list(labels or {}))
    family.add_metric(list((labels or {}).values()), value)
    return family


def _totals(counts: Mapping[str, int]) -> Iterator[Any]:
    for name, action in _TOTALS.items():
        family = CounterMetricFamily(name.removesuffix("_total"), METRICS[name])
        family.add_metric([], counts.get(action, 0))
        yield family
    events = CounterMetricFamily("retention_audit_events", METRICS["retention_audit_events_total"])
    events.add_metric([], sum(counts.values()))
    yield events


def _store_gauges(status: StoreStatus) -> Iterator[Any]:
    due = GaugeMetricFamily("retention_leads_due", METRICS["retention_leads_due"], labels=["rule"])
    due.add_metric(["ttl"], status.due.ttl)
    due.add_metric(["ceiling"], status.due.ceiling)
    yield due
    yield _gauge("retention_leads_due_held", status.due.held)
    yield _gauge("retention_purge_lag_seconds", status.purge_lag_seconds)
    for name in ("pending", "deferred", "failed", "overdue"):
        yield _gauge(f"retention_requests_{name}", getattr(status.requests, name))
    yield _gauge("retention_holds_active", status.holds)


def _job_gauges(status: StoreStatus) -> Iterator[Any]:
    names = (
        "retention_job_last_run_timestamp_seconds", "retention_job_last_success_timestamp_seconds",
        "retention_job_last_check_timestamp_seconds", "retention_job_duration_seconds",
        "retention_job_last_run_failed",
    )  # fmt: skip
    families = {name: GaugeMetricFamily(name, METRICS[name], labels=["job"]) for name in names}
    for state in status.jobs:
        run, success = state.last_run, state.last_success
        values = {
            "retention_job_last_run_timestamp_seconds": run.started_at if run else None,
            "retention_job_last_success_timestamp_seconds": success.finished_at
            if success
            else None,
            "retention_job_last_check_timestamp_seconds": state.last_check,
        }
        for name, moment in values.items():
            if moment is not None:
                families[name].add_metric([state.job], moment.timestamp())
        if run is not None and run.finished_at is not None:
            seconds = (run.finished_at - run.started_at).total_seconds()
            families["retention_job_duration_seconds"].add_metric([state.job], seconds)
        if run is not None:
            families["retention_job_last_run_failed"].add_metric(
                [state.job], 1 if run.status == "failed" else 0
            )
    yield from families.values()


def metrics_registry(
    settings: Settings, engine_of: Callable[[], Engine | None]
) -> CollectorRegistry:
    """A registry holding only the store's metrics (none of the process's own)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(settings, engine_of))
    return registry


class MetricsObserver(RunObserver):
    """After every run and check: the textfile rewritten and the metrics pushed, as
    configured. A failure to export is logged, never the run's failure."""

    def __init__(self, settings: Settings, engine_of: Callable[[], Engine | None]) -> None:
        self._settings = settings
        self._registry = metrics_registry(settings, engine_of)

    @staticmethod
    def wanted(settings: Settings) -> bool:
        return bool(settings.metrics.textfile or settings.metrics.pushgateway)

    def run_finished(
        self, job: str, run_id: int | None, status: str, counts: Mapping[str, Any],
        seconds: float,
    ) -> None:  # fmt: skip
        self.export()

    def export(self) -> None:
        textfile, gateway = self._settings.metrics.textfile, self._settings.metrics.pushgateway
        if textfile is not None:
            try:
                write_to_textfile(str(textfile), self._registry)
            except OSError as exc:
                logger.error("metrics: could not write %s: %s", textfile, exc.strerror)
        if gateway is not None:
            try:
                push_to_gateway(gateway, job="lead-retention", registry=self._registry,
                                grouping_key={"instance": socket.gethostname()})  # fmt: skip
            except OSError as exc:
                logger.error("metrics: could not push to %s: %s", gateway, exc)

"""The scheduler as an operator runs it: SIGTERM in a real process, and the database going
away in the middle of a run."""

from __future__ import annotations

import collections
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from jobs.scheduler import ScheduledRuns
from retention import clock
from retention.config import Settings, load_settings
from retention.services.audit import verify_audit_chain
from retention.services.observer import BatchStats, RunObserver
from retention.services.schema import upgrade_schema
from retention.storage.engine import READ_ONLY, create_store_engine
from retention.storage.runs import start_run
from retention.storage.schema import audit_events, job_runs
from tests.conftest import TEST_KEY
from tests.factories import audit_rows, due_lead, fresh_lead, lead_ids, seed

ROOT = Path(__file__).parents[1]
DUE = 3000


def _runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(job_runs).order_by(job_runs.c.id)))


def _purged(engine: Engine) -> int:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        statement = select(func.count()).where(audit_events.c.action == "lead.purged")
        return int(conn.scalar(statement) or 0)


def _record_an_old_purge_run(engine: Engine) -> None:
    """The purge's last run, an hour ago: the scheduler starting now has missed triggers and
    runs the purge at once (instead of at the next minute)."""
    with engine.begin() as conn:
        start_run(conn, job="purge", started_at=clock.utcnow() - timedelta(hours=1),
                  dry_run=False, host="h", pid=1, worker=0, status="succeeded")  # fmt: skip


def test_sigterm_lets_the_batch_in_flight_commit_and_exits_0(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(n) for n in range(DUE)] + [fresh_lead(99_999)])
    _record_an_old_purge_run(engine)
    env = {
        **os.environ, **environ, "PYTHONPATH": str(ROOT),
        "RETENTION_PURGE_BATCH_SIZE": "2", "RETENTION_RETENTION_GUARD_MAX_LEADS": "100000",
        "RETENTION_JOBS_ERASURE_ENABLED": "false",
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "retention", "--log-format", "json", "scheduler"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _purged(engine) < 20:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the scheduled purge made no progress"
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    left = len(lead_ids(engine)) - 1
    assert 0 < left < DUE
    purged = collections.Counter(e.lead_id for e in audit_rows(engine, "lead.purged"))
    assert len(purged) == DUE - left and set(purged.values()) == {1}, "no half batch"
    assert [r.status for r in _runs(engine)][-1] == "interrupted"
    assert verify_audit_chain(engine).ok
    assert "scheduler stopped" in err and "Traceback" not in err


class _PullThePlug(RunObserver):
    """After the first batch: the database refuses connections and drops the open ones."""

    def __init__(self, admin: Engine, database: str) -> None:
        self._admin, self._database, self.pulled = admin, database, False

    def batch_done(self, stats: BatchStats) -> None:
        if self.pulled:
            return
        self.pulled = True
        with self._admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{self._database}" ALLOW_CONNECTIONS false'))
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self._database},
            )


@pytest.fixture
def outage_store(postgres_url: str) -> Iterator[tuple[Settings, Engine, Engine, str]]:
    """A PostgreSQL store of its own (the test takes its database away)."""
    name = f"retention_outage_{os.getpid()}"
    admin = create_engine(postgres_url)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_url).set(database=name, query={})
    rendered = url.render_as_string(hide_password=False)
    settings = load_settings(
        environ={"RETENTION_DATABASE_URL": rendered, "RETENTION_SUBJECT_KEY": TEST_KEY}
    )
    engine = create_store_engine(settings.database)
    upgrade_schema(engine)
    try:
        yield settings, engine, admin, name
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_the_database_going_away_fails_the_run_and_the_next_trigger_succeeds(
    outage_store: tuple[Settings, Engine, Engine, str],
) -> None:
    settings, engine, admin, name = outage_store
    settings = dataclasses.replace(
        settings,
        retention=dataclasses.replace(settings.retention, guard_max_leads=10_000),
        purge=dataclasses.replace(settings.purge, batch_size=10),
    )
    seed(settings, engine, [due_lead(n) for n in range(1, 101)] + [fresh_lead(999)])
    plug = _PullThePlug(admin, name)
    runs = ScheduledRuns(settings, lambda: engine, threading.Event(), observer=plug)
    runs.run("purge")  # fails in its second batch: it must not raise
    assert plug.pulled
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    runs.run("purge")  # the next trigger: the database is back
    first, second = _runs(engine)
    assert (first.status, second.status) == ("failed", "succeeded")
    assert "lost the database" in first.error
    finished = {e.run_id for e in audit_rows(engine, "run.finished")}
    assert finished == {first.id, second.id}, "the failed run's end is recorded too"
    assert lead_ids(engine) == {"lead-000999"}
    purged = collections.Counter(e.lead_id for e in audit_rows(engine, "lead.purged"))
    assert len(purged) == 100 and set(purged.values()) == {1}
    assert verify_audit_chain(engine).ok


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_scheduler_serves_metrics_over_http_and_stops_on_sigint(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    """What a Kubernetes liveness probe and Prometheus scrape: /metrics, read from the store."""
    seed(settings, engine, [due_lead(1), due_lead(2), fresh_lead(3)])
    _record_an_old_purge_run(engine)  # so that the purge runs at start
    port = _free_port()
    env = {
        **os.environ, **environ, "PYTHONPATH": str(ROOT), "RETENTION_METRICS_PORT": str(port),
        "RETENTION_JOBS_ERASURE_ENABLED": "false",
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "retention", "scheduler"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline, page = time.monotonic() + 60, ""
        while "retention_leads_purged_total 2.0" not in page:
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, f"no purge seen on /metrics: {page[-2000:]}"
            time.sleep(0.1)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    page = r.read().decode()
            except OSError:  # not listening yet
                continue
        assert "retention_store_up 1.0" in page
        assert 'retention_job_last_success_timestamp_seconds{job="purge"}' in page
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert f"metrics on http://127.0.0.1:{port}/metrics" in err and "Traceback" not in err

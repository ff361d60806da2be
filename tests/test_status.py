"""`retention status`: the operator's view, and `--check` for a monitoring probe (both
databases). It reads only: nothing changes, and no lock is needed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, text

from jobs.purge import purge_job
from retention.config import Settings
from retention.services.holds import place_hold
from retention.services.requests import add_request
from retention.storage.engine import SCHEMA_REVISION
from retention.storage.runs import finish_run, start_run
from tests.cli_helpers import json_out, run
from tests.factories import FROZEN_NOW_TEXT, NOW, due_lead, fresh_lead, seed, snapshot

KEYS = {"jobs", "due", "purge_lag_seconds", "requests", "holds", "audit_head", "schema"}


@pytest.fixture(autouse=True)
def _frozen(engine: Engine) -> Iterator[None]:
    with freeze_time(FROZEN_NOW_TEXT):
        yield


def _status(environ: dict[str, str], *args: str) -> tuple[int, dict[str, object]]:
    result = run(["status", "--json", *args], environ)
    return result.exit_code, json_out(result)


def test_the_view_of_a_healthy_store(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(1, ttl_offset=-90), due_lead(2), fresh_lead(3)])
    place_hold(settings, engine, reason="case 1", now=NOW, lead_id="lead-000002")
    add_request(settings, engine, now=NOW, email="seeker.3@example.com")
    before = snapshot(engine)
    code, out = _status(environ)
    assert code == 0 and set(out) == KEYS | {"error", "exit_code"}
    assert out["due"] == {"ttl": 2, "ceiling": 0, "held": 1, "capped": False}
    assert out["purge_lag_seconds"] == 90, "the held lead does not count: it stays"
    assert out["requests"] == {"pending": 1, "deferred": 0, "failed": 0, "overdue": 0}
    assert out["holds"] == {"active": 1}
    assert out["schema"] == {"revision": SCHEMA_REVISION, "current": True}
    jobs = out["jobs"]
    assert isinstance(jobs, dict) and set(jobs) == {"purge", "erasure", "report"}
    assert jobs["purge"]["last_run"] is None and jobs["purge"]["enabled"] is True
    assert jobs["purge"]["next_run"] == "2026-01-15T12:01:00+00:00"
    assert jobs["erasure"]["next_run"] == "2026-01-15T12:15:00+00:00"
    assert snapshot(engine) == before, "status reads only"


def test_the_last_run_success_and_check_of_each_job(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(1), fresh_lead(2)])
    done = purge_job(settings, engine)
    purge_job(settings, engine, check_first=True)  # nothing due now: a heartbeat
    code, out = _status(environ, "--check")
    assert code == 0
    purge = out["jobs"]["purge"]  # type: ignore[index]
    assert purge["last_run"]["id"] == done.outcome.run_id
    assert (
        purge["last_run"]["status"] == "succeeded" and purge["last_run"]["counts"]["deleted"] == 1
    )
    assert purge["last_success"]["id"] == done.outcome.run_id
    assert purge["last_check"] == "2026-01-15T12:00:00+00:00"


@pytest.mark.parametrize("problem", ["failed-run", "overdue-request", "lag"])
def test_check_exits_1_on_each_problem(
    settings: Settings, engine: Engine, environ: dict[str, str], problem: str
) -> None:
    assert run(["status", "--check"], environ).exit_code == 0
    if problem == "failed-run":
        with engine.begin() as conn:
            run_id = start_run(conn, job="erasure", started_at=NOW, dry_run=False, host="h",
                               pid=1, worker=0)  # fmt: skip
            finish_run(conn, run_id, status="failed", finished_at=NOW, counts={}, error="boom")
        expected = "erasure: last run"
    elif problem == "overdue-request":
        add_request(settings, engine, now=NOW, email="late@example.com",
                    received_at=NOW - timedelta(days=40))  # fmt: skip
        expected = "1 erasure request(s) overdue"
    else:
        seed(settings, engine, [due_lead(1, ttl_offset=-301)])
        expected = "purge lag 301 s, more than status.max_lag_seconds (300 s)"
    code, out = _status(environ, "--check")
    assert code == 1 and expected in str(out["error"])
    plain = run(["status", "--check"], environ)
    assert plain.exit_code == 1 and expected in plain.stdout
    assert run(["status"], environ).exit_code == 0, "without --check, the view only"


def test_the_lag_limit_comes_from_the_config(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(1, ttl_offset=-301)])
    code, _ = _status({**environ, "RETENTION_STATUS_MAX_LAG_SECONDS": "600"}, "--check")
    assert code == 0


def test_status_needs_no_lock_while_a_writer_holds_the_store(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    with engine.connect() as writer:
        if engine.dialect.name == "postgresql":
            writer.execute(text("LOCK TABLE leads IN EXCLUSIVE MODE"))
        else:
            writer.exec_driver_sql("DELETE FROM store_meta WHERE key = 'none'")  # holds the lock
        code, _ = _status({**environ, "RETENTION_DATABASE_BUSY_TIMEOUT_SECONDS": "1"})
        writer.rollback()
    assert code == 0

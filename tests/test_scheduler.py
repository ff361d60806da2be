"""`retention scheduler`: the jobs on their cron triggers, built unstarted and checked; runs
called as the triggers call them (never a started scheduler thread, but in a subprocess)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select

from jobs.scheduler import ScheduledRuns, build_scheduler, enabled_triggers
from retention.config import Settings, load_settings
from retention.errors import ConfigError
from retention.services.residue import ERASURE_TABLES
from retention.storage.residue import clean_residue
from retention.storage.runs import start_run
from retention.storage.schema import audit_events, job_checks, job_runs
from tests.cli_helpers import run
from tests.factories import FROZEN_NOW_TEXT, NOW, audit_rows, due_lead, fresh_lead, lead_ids, seed


def _runs(settings: Settings, engine: Engine) -> ScheduledRuns:
    return ScheduledRuns(settings, lambda: engine, threading.Event())


def _rows(engine: Engine, table: object) -> list[object]:
    with engine.connect() as conn:
        return list(conn.execute(select(table)))  # type: ignore[call-overload]


def test_each_enabled_job_has_its_trigger_from_the_config(
    settings: Settings, engine: Engine
) -> None:
    started = NOW + timedelta(seconds=30)
    scheduler = build_scheduler(settings, _runs(settings, engine), engine=engine, now=started)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"purge", "erasure", "report"}
    for job in jobs.values():
        assert (job.coalesce, job.max_instances, job.misfire_grace_time) == (True, 1, None)
        assert job.args == (job.id,) or list(job.args) == [job.id]
    assert (
        str(jobs["purge"].trigger)
        == "cron[month='*', day='*', day_of_week='*', hour='*', minute='*']"
    )
    assert "minute='*/15'" in str(jobs["erasure"].trigger)
    assert "hour='6', minute='0'" in str(jobs["report"].trigger)
    assert jobs["purge"].next_run_time == NOW + timedelta(minutes=1)
    assert jobs["erasure"].next_run_time == datetime(2026, 1, 15, 12, 15, tzinfo=UTC)


def test_schedules_time_zone_and_enabled_come_from_the_config() -> None:
    env = {
        "RETENTION_JOBS_ERASURE_SCHEDULE": "30 2 * * *",
        "RETENTION_JOBS_PURGE_ENABLED": "false",
        "RETENTION_JOBS_REPORT_ENABLED": "false",
        "RETENTION_SCHEDULER_TIMEZONE": "Europe/Paris",
    }
    triggers = enabled_triggers(load_settings(environ=env))
    assert list(triggers) == ["erasure"]
    paris = ZoneInfo("Europe/Paris")
    fire = triggers["erasure"].get_next_fire_time(None, datetime(2026, 1, 15, 12, tzinfo=UTC))
    assert fire == datetime(2026, 1, 16, 2, 30, tzinfo=paris)


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"RETENTION_JOBS_PURGE_SCHEDULE": "61 * * * *"}, "jobs.purge.schedule"),
        ({"RETENTION_JOBS_ERASURE_SCHEDULE": "* * * *"}, "jobs.erasure.schedule"),
        ({"RETENTION_SCHEDULER_TIMEZONE": "Mars/Olympus"}, "scheduler.timezone"),
        ({"RETENTION_JOBS_CLEANUP_SCHEDULE": "* * * * *"}, "RETENTION_JOBS_CLEANUP_SCHEDULE"),
    ],
    ids=["minute-61", "four-fields", "time-zone", "unknown-job"],
)
def test_a_bad_schedule_is_exit_2_before_anything_starts(
    environ: dict[str, str], env: dict[str, str], key: str
) -> None:
    result = run(["scheduler"], {**environ, **env})
    assert result.exit_code == 2
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: config: {key}: ")


def test_an_unknown_job_table_in_a_file_names_its_key(tmp_path: object) -> None:
    from pathlib import Path

    config = Path(str(tmp_path)) / "jobs.toml"
    config.write_text('[jobs.cleanup]\nschedule = "* * * * *"\n')
    with pytest.raises(ConfigError, match=r"jobs\.cleanup\.schedule: unknown key"):
        load_settings(config, environ={})


def test_a_run_missed_while_the_scheduler_was_down_runs_once_at_start(
    settings: Settings, engine: Engine
) -> None:
    """The purge last ran at 12:00 and the scheduler comes back at 13:02: sixty-two triggers
    were missed, the job runs once, now (coalesced), never sixty-two times, never zero. The
    erasure ran at 13:01: its next trigger, 13:15, is not missed."""
    with engine.begin() as conn:
        start_run(conn, job="purge", started_at=NOW, dry_run=False, host="h", pid=1, worker=0,
                  status="succeeded")  # fmt: skip
        start_run(conn, job="erasure", started_at=NOW + timedelta(minutes=61), dry_run=False,
                  host="h", pid=1, worker=0, status="succeeded")  # fmt: skip
    back = NOW + timedelta(minutes=62)
    with freeze_time(back):
        scheduler = build_scheduler(settings, _runs(settings, engine), engine=engine)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert jobs["purge"].next_run_time == back, "missed: runs at once"
    assert jobs["purge"].coalesce is True, "once, however many triggers were missed"
    assert jobs["erasure"].next_run_time == NOW + timedelta(minutes=75), "not missed: on time"
    recent = build_scheduler(settings, _runs(settings, engine), engine=engine,
                             now=NOW + timedelta(seconds=30))  # fmt: skip
    assert recent.get_job("purge").next_run_time == NOW + timedelta(minutes=1)


def test_an_idle_check_adds_no_run_and_no_event_only_a_heartbeat(
    settings: Settings, engine: Engine
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    # The dead rows an earlier test's cleanup left would be the erasure job's work (VACUUM).
    clean_residue(engine, ERASURE_TABLES, vacuum=True)
    with freeze_time(FROZEN_NOW_TEXT):
        _runs(settings, engine).run("purge")
        _runs(settings, engine).run("erasure")
    assert _rows(engine, job_runs) == [] and _rows(engine, audit_events) == []
    checks = {row.job: row.checked_at for row in _rows(engine, job_checks)}  # type: ignore[attr-defined]
    assert checks == {"purge": NOW, "erasure": NOW}


def test_a_scheduled_run_that_finds_work_is_recorded(settings: Settings, engine: Engine) -> None:
    seed(settings, engine, [due_lead(1), fresh_lead(2)])
    with freeze_time(FROZEN_NOW_TEXT):
        _runs(settings, engine).run("purge")
    assert lead_ids(engine) == {"lead-000002"}
    (row,) = _rows(engine, job_runs)
    assert row.status == "succeeded"  # type: ignore[attr-defined]
    assert [e.action for e in audit_rows(engine)] == ["run.started", "lead.purged", "run.finished"]


@pytest.mark.postgres
def test_two_schedulers_on_one_store_purge_each_lead_once(
    settings: Settings, engine: Engine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("several schedulers on several hosts share a PostgreSQL store")
    lenient = dataclasses.replace(
        settings,
        retention=dataclasses.replace(settings.retention, guard_max_leads=10_000),
        purge=dataclasses.replace(settings.purge, batch_size=7),
    )
    seed(settings, engine, [due_lead(n) for n in range(1, 301)] + [fresh_lead(999)])
    first, second = _runs(lenient, engine), _runs(lenient, engine)
    with freeze_time(FROZEN_NOW_TEXT):
        threads = [threading.Thread(target=runs.run, args=("purge",)) for runs in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    assert lead_ids(engine) == {"lead-000999"}
    purged = [e.lead_id for e in audit_rows(engine, "lead.purged")]
    assert sorted(purged) == sorted(f"lead-{n:06d}" for n in range(1, 301))
    statuses = sorted(row.status for row in _rows(engine, job_runs))  # type: ignore[attr-defined]
    assert statuses in (["skipped", "succeeded"], ["succeeded"]), statuses

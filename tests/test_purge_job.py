"""The purge as a job: its run row, its lock, crashes and signals, concurrent runs."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, func, select

from jobs.purge import purge_job
from retention.config import Settings
from retention.errors import GuardError
from retention.services.audit import verify_audit_chain
from retention.storage.engine import READ_ONLY
from retention.storage.locks import try_run_lock
from retention.storage.schema import audit_events, job_runs
from tests.cli_helpers import json_out, run
from tests.factories import FROZEN_NOW_TEXT, NOW, audit_rows, due_lead, fresh_lead, lead_ids, seed

ROOT = Path(__file__).parents[1]


def _runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(job_runs).order_by(job_runs.c.id)))


def test_a_run_records_its_row_and_its_start_and_end_events(
    settings: Settings, engine: Engine
) -> None:
    seed(settings, engine, [due_lead(1), due_lead(2), fresh_lead(3)])
    with freeze_time(FROZEN_NOW_TEXT):
        done = purge_job(settings, engine)
    assert done.outcome.status == "succeeded"
    (row,) = _runs(engine)
    assert (row.job, row.status, row.dry_run, row.pid) == ("purge", "succeeded", False, os.getpid())
    assert row.counts["deleted"] == 2 and row.counts["by_rule"] == {"ttl": 2, "ceiling": 0}
    assert row.finished_at is not None and row.error is None
    actions = [e.action for e in audit_rows(engine)]
    assert actions == ["run.started", "lead.purged", "lead.purged", "run.finished"]
    assert {e.run_id for e in audit_rows(engine)} == {row.id}
    assert done.outcome.head is not None and done.outcome.head.event_id == audit_rows(engine)[-1].id


def test_a_dry_run_writes_only_its_run_row(settings: Settings, engine: Engine) -> None:
    seed(settings, engine, [due_lead(1)])
    events_before = len(audit_rows(engine))
    with freeze_time(FROZEN_NOW_TEXT):
        done = purge_job(settings, engine, dry_run=True)
    assert done.result is not None and done.result.deleted == 1
    assert lead_ids(engine) == {"lead-000001"}
    assert len(audit_rows(engine)) == events_before
    (row,) = _runs(engine)
    assert (row.status, row.dry_run) == ("succeeded", True)


def test_a_run_that_finds_the_lock_taken_is_skipped(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(1)])
    lock = try_run_lock(engine, "purge", 0)
    assert lock is not None
    try:
        result = run(["purge", "--json"], environ)
    finally:
        lock.release()
    assert result.exit_code == 0
    assert json_out(result)["status"] == "skipped" and json_out(result)["deleted"] == 0
    assert [r.status for r in _runs(engine)] == ["skipped"]
    assert lead_ids(engine) == {"lead-000001"}


def test_a_refused_run_is_recorded_as_failed_with_its_reason(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(n) for n in range(1, 1003)])
    with freeze_time(FROZEN_NOW_TEXT):
        result = run(["purge"], environ)
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: purge refused by the blast-radius guard: 1002 of 1002")
    assert last.endswith("run `retention purge --force` once")
    (row,) = _runs(engine)
    assert row.status == "failed" and "purge refused" in row.error
    assert len(lead_ids(engine)) == 1002
    with freeze_time(FROZEN_NOW_TEXT), pytest.raises(GuardError):
        purge_job(settings, engine)


def test_cli_purge_json_has_the_spec_keys(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(1), fresh_lead(2)])
    with freeze_time(FROZEN_NOW_TEXT):
        result = run(["purge", "--json", "--batch-size", "10"], environ)
        dry = run(["run", "purge", "--dry-run", "--json"], environ)
    assert result.exit_code == 0, result.output
    out = json_out(result)
    assert {"run_id", "dry_run", "deleted", "hold_skipped", "batches"} <= set(out)
    assert (out["deleted"], out["hold_skipped"], out["batches"], out["dry_run"]) == (1, 0, 1, False)
    assert out["audit_head"]["event_id"] == audit_rows(engine)[-1].id
    assert set(json_out(dry)) == set(out)
    assert "\rpurge:" not in result.stderr  # no progress without a terminal


# --- real processes -----------------------------------------------------------------------


def _spawn(environ: dict[str, str], *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "retention", "--log-format", "json", "purge", "--force", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _purged_count(engine: Engine) -> int:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return int(
            conn.scalar(select(func.count()).where(audit_events.c.action == "lead.purged")) or 0
        )


def _wait_for_events(engine: Engine, at_least: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while _purged_count(engine) < at_least:
        assert process.poll() is None, "the purge ended before it could be interrupted"
        assert time.monotonic() < deadline, "the purge made no progress"
        time.sleep(0.02)


def _assert_each_lead_purged_once(engine: Engine, expected: int) -> None:
    purged = collections.Counter(e.lead_id for e in audit_rows(engine, "lead.purged"))
    assert len(purged) == expected
    assert set(purged.values()) == {1}, "a lead was audited twice"
    assert verify_audit_chain(engine).ok


DUE = 3000


@contextlib.contextmanager
def frozen(process: subprocess.Popen[str]) -> Iterator[None]:
    """Stop the process (SIGSTOP) for the block: it cannot finish behind the test's back,
    wherever it stands, inside a batch or between two."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)


def test_a_purge_killed_with_sigkill_is_finished_by_the_next_run(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(n) for n in range(DUE)] + [fresh_lead(99_999)])
    first = _spawn(environ, "--batch-size", "2")
    _wait_for_events(engine, 20, first)
    with frozen(first):
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
    assert first.returncode == -signal.SIGKILL
    left = len(lead_ids(engine)) - 1
    assert 0 < left < DUE
    # Every lead is either still there or deleted with exactly one event: no half batch.
    assert len(audit_rows(engine, "lead.purged")) == DUE - left
    second = _spawn(environ, "--json")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert json.loads(out)["deleted"] == left
    assert lead_ids(engine) == {"lead-099999"}
    _assert_each_lead_purged_once(engine, DUE)
    statuses = [r.status for r in _runs(engine)]
    assert statuses == ["failed", "succeeded"], "the killed run's row is closed by the next run"
    finished = audit_rows(engine, "run.finished")
    assert sorted(e.run_id for e in finished) == [r.id for r in _runs(engine)]


def test_sigterm_finishes_the_batch_and_records_an_interrupted_run(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(n) for n in range(DUE)])
    process = _spawn(environ, "--batch-size", "2", "--json")
    _wait_for_events(engine, 20, process)
    with frozen(process):
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)  # delivered when it runs again
    out, err = process.communicate(timeout=30)
    assert time.monotonic() - started < 10
    assert process.returncode == 1, err
    assert json.loads(out)["status"] == "interrupted"
    assert "SIGTERM received" in err
    (row,) = _runs(engine)
    assert row.status == "interrupted" and row.counts["deleted"] == json.loads(out)["deleted"]
    left = len(lead_ids(engine))
    assert left > 0 and len(audit_rows(engine, "lead.purged")) == DUE - left
    assert verify_audit_chain(engine).ok


def test_two_purges_at_once_audit_every_lead_exactly_once(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [due_lead(n) for n in range(DUE)])
    config = tmp_path / "workers.toml"
    config.write_text("[purge]\nworkers = 2\n")
    env = {**environ, "RETENTION_CONFIG": str(config)}
    processes = [_spawn(env, "--batch-size", "50", "--json") for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    results = [json.loads(out) for out, _ in outputs]
    assert sum(r["deleted"] for r in results) == DUE
    assert lead_ids(engine) == set()
    _assert_each_lead_purged_once(engine, DUE)
    if engine.dialect.name == "postgresql":
        statuses = sorted(r["status"] for r in results)
        assert statuses == ["succeeded", "succeeded"], "two workers purge side by side"


def test_progress_line_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from retention.cli.runs import ProgressLine, progress_line
    from retention.services.observer import BatchStats

    assert progress_line(True) is None
    show = ProgressLine()
    show.batch_done(
        BatchStats(job="purge", batch=2, seconds=0.1, size=5000, rows=4500, held=1, requests=0,
                   total_rows=9000, total_held=1, total_requests=0, due=18000)
    )  # fmt: skip
    assert capsys.readouterr().err == "\rpurge: 9000 deleted, 1 held, batch 2 (50%)"


def test_each_run_appends_its_chain_head_to_the_anchor_file(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    anchors = tmp_path / "anchors.txt"
    config = tmp_path / "anchor.toml"
    config.write_text('[audit]\nanchor_file = "anchors.txt"\n')  # relative to the config file
    seed(settings, engine, [due_lead(1), due_lead(2)])
    env = {**environ, "RETENTION_CONFIG": str(config)}
    with freeze_time(FROZEN_NOW_TEXT):
        first = json_out(run(["purge", "--json"], env))
        # An idle check appends no event, so it publishes nothing; a run with work does.
        assert json_out(run(["run", "purge", "--json"], env))["status"] == "idle"
        seed(settings, engine, [due_lead(3)])
        second = json_out(run(["run", "purge", "--json"], env))
    lines = anchors.read_text().splitlines()
    assert len(lines) == 2
    for line, out in zip(lines, (first, second), strict=True):
        when, job, run_id, head = line.split(" ")
        assert when.endswith("Z")
        assert (job, int(run_id)) == ("purge", out["run_id"])
        assert head == f"{out['audit_head']['event_id']}:{out['audit_head']['hash']}"
    # What was published proves the chain later on.
    verified = run(["audit", "verify", "--anchor", lines[0].split(" ")[3]], environ)
    assert verified.exit_code == 0, verified.output


def test_closing_a_run_left_running_writes_its_run_finished_event(
    settings: Settings, engine: Engine
) -> None:
    from retention.storage.runs import start_run

    with engine.begin() as conn:
        dead = start_run(conn, job="purge", started_at=NOW, dry_run=False, host="gone", pid=1,
                         worker=0)  # fmt: skip
    with freeze_time(FROZEN_NOW_TEXT):
        assert purge_job(settings, engine, dry_run=True).outcome.status == "succeeded"
        assert _runs(engine)[0].status == "running", "a dry run changes nothing"
        run_ = purge_job(settings, engine)
    assert [r.status for r in _runs(engine)] == ["failed", "succeeded", "succeeded"]
    (closed,) = [e for e in audit_rows(engine, "run.finished") if e.run_id == dead]
    details = json.loads(closed.details)
    assert (details["status"], details["closed_by_run"]) == ("failed", run_.outcome.run_id)
    assert verify_audit_chain(engine).ok


@pytest.mark.parametrize("command", [["purge"], ["run", "erasure"]])
def test_an_anchor_file_that_cannot_be_written_fails_the_run_after_the_work(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path,
    command: list[str],
) -> None:  # fmt: skip
    """Publishing the head is part of the run: the work is committed, the exit code is 1."""
    config = tmp_path / "anchor.toml"
    config.write_text(f'[audit]\nanchor_file = "{tmp_path / "missing-folder" / "a.txt"}"\n')
    seed(settings, engine, [due_lead(1)])
    with freeze_time(FROZEN_NOW_TEXT):
        if command == ["run", "erasure"]:  # work for it: a request (appends no anchor yet)
            run(["requests", "add", "--email", "seeker.1@example.com"], environ)
        result = run([*command, "--json"], {**environ, "RETENTION_CONFIG": str(config)})
    assert result.exit_code == 1
    out = json_out(result)
    assert out["status"] == "succeeded" and out["exit_code"] == 1
    assert "could not append the audit head" in out["error"]
    assert "could not append the audit head" in result.stderr
    if command == ["purge"]:
        assert out["deleted"] == 1 and lead_ids(engine) == set()


def test_the_dry_run_log_line_says_what_would_be_deleted(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(1), due_lead(2)])
    with freeze_time(FROZEN_NOW_TEXT):
        result = run(["purge", "--dry-run"], environ)
    (line,) = [line for line in result.stderr.splitlines() if "batches" in line]
    assert "would delete 2 (ttl 2, ceiling 0)" in line and "deleted" not in line

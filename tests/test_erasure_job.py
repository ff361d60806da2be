"""Queued erasure requests and the erasure job: `requests add/import/list`, due dates, bad
request files, runs oldest first, dry runs, a run skipped by another, a stop between batches,
a failed verification's exit code. Both databases."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select

from jobs.erasure import erasure_job
from retention.config import Settings
from retention.services.requests import add_request
from retention.storage.locks import try_run_lock
from retention.storage.schema import job_runs
from tests.cli_helpers import json_out, run
from tests.erasure_helpers import (
    _drop_restoring_trigger,
    _install_restoring_trigger,
    _lead_row,
    _now,
    _requests,
)
from tests.erasure_helpers import _frozen as _frozen  # autouse: every test under the frozen clock
from tests.factories import audit_rows, fresh_lead, seed, snapshot

# --- the queue ---------------------------------------------------------------------------


def test_queued_requests_are_done_oldest_first_by_the_job(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [fresh_lead(n) for n in range(1, 5)])
    csv_file = tmp_path / "requests.csv"
    csv_file.write_text(
        "kind,value,received_at,reference\n"
        "email,seeker.2@example.com,2026-01-10,T-2\n"
        "phone,+33 6 00 00 00 03,2026-01-05T09:30:00Z,T-3\n"
        "lead_id,lead-000004,,\n"
        "email,SEEKER.2@example.com,2026-01-11,duplicate\n",
        encoding="utf-8",
    )
    imported = json_out(run(["requests", "import", str(csv_file), "--json"], environ))
    assert (imported["added"], imported["duplicates"]) == (3, 1)
    assert (
        json_out(run(["requests", "add", "--lead-id", "lead-000004", "--json"], environ))[
            "request_id"
        ]
        is None
    )  # already queued
    listed = json_out(run(["requests", "list", "--status", "pending", "--json"], environ))
    assert [r["reference"] for r in listed["requests"]] == ["T-3", "T-2", None]
    assert all("value" not in r and "subject" not in r for r in listed["requests"])
    assert "seeker.2" not in json.dumps(listed)

    result = run(["run", "erasure", "--json"], environ)
    assert result.exit_code == 0, result.stderr
    document = json_out(result)
    assert (document["requests"], document["completed"], document["leads_erased"]) == (3, 3, 3)
    completed = [e for e in audit_rows(engine) if e.action == "request.completed"]
    oldest_first = [r.id for r in sorted(_requests(engine), key=lambda r: r.received_at)]
    assert [e.request_id for e in completed] == oldest_first
    assert _lead_row(engine, "lead-000001").erased_at is None
    assert all(r.subject is None for r in _requests(engine))
    with engine.connect() as conn:
        (job_run,) = conn.execute(select(job_runs)).all()
    assert job_run.job == "erasure" and job_run.counts["leads_erased"] == 3


def test_due_dates_are_one_calendar_month_clamped_and_overdue_ones_are_listed(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    run(["requests", "add", "--email", "a@example.com", "--received-at", "2025-12-31"], environ)
    run(["requests", "add", "--email", "b@example.com", "--received-at", "2026-01-10"], environ)
    rows = json_out(run(["requests", "list", "--json"], environ))["requests"]
    assert [r["due_at"][:10] for r in rows] == ["2026-01-31", "2026-02-10"]
    with freeze_time("2026-01-31T23:59:00+00:00"):  # the due day's last minute
        on_time = json_out(run(["requests", "list", "--overdue", "--json"], environ))["requests"]
    assert on_time == []
    with freeze_time("2026-02-01T00:00:00+00:00"):
        overdue = json_out(run(["requests", "list", "--overdue", "--json"], environ))["requests"]
    assert [r["due_at"][:10] for r in overdue] == ["2026-01-31"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("email,   ,,\n", "requests.csv: line 3: value: must not be blank"),
        ("fax,123,,\n", "requests.csv: line 3: kind: must be one of email, phone"),
        ("phone,06 11 22 33 44,,\n", "requests.csv: line 3: value: give the number with its"),
        ("email,a@example.com,yesterday,\n", "requests.csv: line 3: received_at: not a date"),
        ("email,a@example.com,2030-01-01,\n", "requests.csv: line 3: received_at: in the future"),
        ("email\n", "requests.csv: line 3: expected the columns kind,value,received_at,reference"),
    ],
)
def test_a_bad_request_file_is_refused_whole_naming_line_and_column(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path,
    content: str, message: str,
) -> None:  # fmt: skip
    path = tmp_path / "requests.csv"
    # A header and a good row first: nothing of the file is queued all the same.
    path.write_text("kind,value,received_at,reference\nemail,good@example.com,,\n" + content)
    before = snapshot(engine)
    result = run(["requests", "import", str(path)], environ)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "06 11" not in result.stderr and "a@example.com" not in result.stderr
    assert snapshot(engine) == before
    assert _requests(engine) == []


# --- the job's run -----------------------------------------------------------------------


def test_a_dry_run_of_the_job_counts_and_changes_only_its_run_row(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1), fresh_lead(2)])
    add_request(settings, engine, now=_now(), email="seeker.1@example.com")
    before = snapshot(engine)
    document = json_out(run(["run", "erasure", "--dry-run", "--json"], environ))
    assert (document["dry_run"], document["requests"], document["leads_erased"]) == (True, 1, 1)
    after = snapshot(engine)
    assert {name: rows for name, rows in after.items() if name != "job_runs"} == {
        name: rows for name, rows in before.items() if name != "job_runs"
    }


def test_an_erasure_run_finding_another_one_running_is_skipped(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    add_request(settings, engine, now=_now(), email="seeker.1@example.com")
    lock = try_run_lock(engine, "erasure", 0)
    assert lock is not None
    try:
        result = run(["run", "erasure", "--json"], environ)
    finally:
        lock.release()
    assert result.exit_code == 0
    assert (json_out(result)["status"], json_out(result)["requests"]) == ("skipped", 0)
    assert _lead_row(engine, "lead-000001").erased_at is None
    assert json_out(run(["run", "erasure", "--json"], environ))["leads_erased"] == 1


def test_a_stop_request_ends_the_run_between_batches(settings: Settings, engine: Engine) -> None:
    seed(settings, engine, [fresh_lead(n) for n in range(1, 4)])
    for n in range(1, 4):
        add_request(settings, engine, now=_now(), email=f"seeker.{n}@example.com")
    small = dataclasses.replace(
        settings, erasure=dataclasses.replace(settings.erasure, batch_size=1)
    )
    asked = iter([False, True])
    done = erasure_job(small, engine, should_stop=lambda: next(asked, True))
    assert done.outcome.status == "interrupted" and done.result is not None
    assert (done.result.requests, done.result.leads_erased) == (1, 1)
    statuses = [r.status for r in _requests(engine)]
    assert statuses == ["completed", "pending", "pending"]
    finished = erasure_job(small, engine)
    assert finished.result is not None and finished.result.completed == 2


def test_a_verification_failure_makes_the_run_exit_1(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    add_request(settings, engine, now=_now(), email="seeker.1@example.com")
    _install_restoring_trigger(engine)
    try:
        result = run(["run", "erasure"], environ)
    finally:
        _drop_restoring_trigger(engine)
    assert result.exit_code == 1
    assert "1 erasure request(s) failed verification" in result.stderr
    assert "Prenom1" not in result.stdout + result.stderr

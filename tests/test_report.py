"""The compliance report (SPEC section 7): every figure against a store built for it, on both
databases; the same store and clock give the same bytes; no personal data in any format."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from retention.config import Settings
from tests.cli_helpers import json_out, run
from tests.factories import NOW_TS, YEAR, make_lead, seed, with_contact, write_jsonl

PERIOD = ["--since", "2026-01-01", "--until", "2026-01-31"]
REPORTED_AT = "2026-01-31T12:00:00+00:00"


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp())


def _fresh(n: int, **contact: Any) -> dict[str, Any]:
    lead = make_lead(n, TTL=NOW_TS + YEAR)
    return with_contact(lead, **contact) if contact else lead


def _store_leads() -> list[dict[str, Any]]:
    due_jan_10 = _ts("2026-01-10T12:00:00")
    return [
        make_lead(1, TTL=due_jan_10),
        make_lead(2, TTL=due_jan_10),
        make_lead(3, "AGENCY", TTL=due_jan_10, portal="IWT-DEU"),
        make_lead(4, "PROPERTY_SEARCH", TTL=due_jan_10, portal="IWB-BEL"),
        # Ingested three years before 11 January: due under the ceiling, whatever its TTL.
        make_lead(5, "AGENCY", TTL=NOW_TS + YEAR, ingestionDate=_ts("2023-01-11T12:00:00")),
        make_lead(6, TTL=due_jan_10),  # held: left alone by the purge
        _fresh(7),
        _fresh(8, email="seeker.7@example.com"),  # seeker A: two leads
        _fresh(9),  # seeker B
        make_lead(10, TTL=_ts("2026-01-25T12:00:00")),  # due after the last purge: backlog
        _fresh(11),  # seeker E, under a hold
        _fresh(14),  # arrives erased by the upstream later
        make_lead(15, TTL=_ts("2025-12-15T00:00:00"), ingestionDate=_ts("2025-11-01T00:00:00")),
    ]


@pytest.fixture
def reported(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> dict[str, str]:
    """A store with a month of activity in January 2026 (and some before it)."""
    seed(settings, engine, _store_leads())

    def at(moment: str, args: list[str], code: int = 0, env: dict[str, str] = environ) -> None:
        with freeze_time(moment):
            result = run(args, env)
        assert result.exit_code == code, result.output

    at("2025-12-01T09:00:00Z", ["requests", "add", "--email", "seeker.9@example.com"])
    at("2025-12-20T09:00:00Z", ["purge"])
    at("2026-01-05T09:00:00Z", ["hold", "place", "--lead-id", "lead-000006", "--reason", "x"])
    at("2026-01-05T09:05:00Z", ["hold", "place", "--email", "seeker.11@example.com",
                                "--reason", "court order"])  # fmt: skip
    strict = {**environ, "RETENTION_RETENTION_GUARD_MAX_LEADS": "1",
              "RETENTION_RETENTION_GUARD_MAX_SHARE": "0.01"}  # fmt: skip
    at("2026-01-11T14:00:00Z", ["purge"], code=1, env=strict)  # the guard refuses
    at("2026-01-11T14:10:00Z", ["purge"])
    at("2026-01-12T10:00:00Z", ["erase", "--email", "seeker.7@example.com"])
    erased_upstream = with_contact(
        make_lead(14, TTL=NOW_TS + YEAR),
        firstName=None, lastName=None, gender=None, language=None, message=None, email=None,
        phoneNumbers=[], isOwner=None,
    )  # fmt: skip
    later = [_fresh(12, email="seeker.7@example.com"), erased_upstream]
    at("2026-01-14T10:00:00Z", ["import", str(write_jsonl(tmp_path / "later.jsonl", later))])
    at("2026-01-19T08:00:00Z", ["requests", "add", "--email", "seeker.11@example.com"])
    at("2026-01-20T10:00:00Z", ["run", "erasure"])
    at("2026-01-21T08:00:00Z", ["requests", "add", "--email", "nobody.c@example.com",
                                "--received-at", "2025-12-10T08:00:00"])  # fmt: skip
    at("2026-01-28T08:00:00Z", ["requests", "add", "--email", "nobody.d@example.com"])
    return environ


def _report(environ: dict[str, str], fmt: str = "json") -> str:
    with freeze_time(REPORTED_AT):
        result = run(["report", *PERIOD, "--format", fmt], environ)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_figure_of_the_period(reported: dict[str, str], engine: Engine) -> None:
    document = json.loads(_report(reported))
    assert list(document) == [
        "period", "purged", "erased", "erasure_requests", "backlog", "legal_holds", "runs",
        "audit_chain", "policy", "generated_at",
    ]  # fmt: skip
    assert document["period"] == {
        "since": "2026-01-01T00:00:00Z", "until": "2026-02-01T00:00:00Z", "days": 31
    }  # fmt: skip
    assert document["generated_at"] == "2026-01-31T12:00:00Z"

    purged = document["purged"]  # 11 January; lead 15 went in December, outside the period
    assert purged["total"] == 5
    assert purged["by_rule"] == {"ttl": 4, "ceiling": 1}
    assert purged["by_portal"] == {"IWB-BEL": 1, "IWT-DEU": 1, "SLG-FRA": 3}
    assert purged["by_category"] == {"CLASSIFIED": 2, "AGENCY": 2, "PROPERTY_SEARCH": 1}
    days = {row["day"]: row["count"] for row in purged["by_day"]}
    assert len(days) == 31 and days["2026-01-11"] == 5 and sum(days.values()) == 5

    erased = document["erased"]
    assert erased["by_source"] == {"request": 3, "suppression": 1, "upstream": 1}
    erased_days = {row["day"]: row["count"] for row in erased["by_day"] if row["count"]}
    assert erased_days == {"2026-01-12": 2, "2026-01-14": 2, "2026-01-20": 1}

    requests = document["erasure_requests"]
    # Received in January: A (erase), the upstream's erasure of lead 14, E and D; B and C
    # were received in December. Completed: A and lead 14's at once, B late.
    assert {k: requests[k] for k in ("received", "completed", "completed_late")} == {
        "received": 4, "completed": 3, "completed_late": 1
    }  # fmt: skip
    # Open now: C (due 10 January: overdue) and D pending, E deferred by its hold.
    assert {k: requests[k] for k in ("pending", "deferred", "failed", "overdue")} == {
        "pending": 2, "deferred": 1, "failed": 0, "overdue": 1
    }  # fmt: skip
    # A and lead 14's took no time, B from 1 December 09:00 to 20 January 10:00: 50 days
    # and an hour.
    assert requests["max_days_to_complete"] == 50.04
    assert requests["median_days_to_complete"] == 0
    assert requests["oldest_open_received_at"] == "2025-12-10T08:00:00Z"
    ages = {row["age"]: (row["completed"], row["open"]) for row in requests["by_age"]}
    assert ages == {
        "0-7 days": (2, 1), "8-14 days": (0, 1), "15-21 days": (0, 0), "22-28 days": (0, 0),
        "29+ days, not yet due": (0, 0), "overdue": (1, 1),
    }  # fmt: skip

    backlog = document["backlog"]  # lead 10, due since 25 January 12:00; lead 6 is held
    assert {k: backlog[k] for k in ("due", "by_rule", "held", "oldest_due_at", "lag_seconds")} == {
        "due": 1, "by_rule": {"ttl": 1, "ceiling": 0}, "held": 1,
        "oldest_due_at": "2026-01-25T12:00:00Z", "lag_seconds": 6 * 86400,
    }  # fmt: skip
    runs_by_day = {row["day"]: (row["purge_runs"], row["max_due_at_start"])
                   for row in backlog["by_day"] if row["purge_runs"]}  # fmt: skip
    assert runs_by_day == {"2026-01-11": (2, 6)}

    assert document["legal_holds"] == {
        "active": 2, "on_leads": 1, "on_subjects": 1, "placed": 2, "released": 0,
        "skipped": 2, "skipped_by_job": {"purge": 1, "erasure": 1, "import": 0},
    }  # fmt: skip

    runs = document["runs"]
    assert list(runs) == ["purge", "erasure", "report"]
    assert {k: runs["purge"][k] for k in ("runs", "succeeded", "failed", "last_success")} == {
        "runs": 2, "succeeded": 1, "failed": 1, "last_success": "2026-01-11T14:10:00Z"
    }  # fmt: skip
    assert (runs["erasure"]["runs"], runs["erasure"]["succeeded"]) == (1, 1)
    assert runs["report"]["runs"] == 0 and runs["report"]["last_success"] is None

    chain = document["audit_chain"]
    verified = json_out(run(["audit", "verify", "--json"], reported))
    assert (chain["ok"], chain["events"], chain["head"]) == (True, verified["events"],
                                                            verified["head"])  # fmt: skip

    policy = document["policy"]
    assert policy["ceiling_years"] == 3 and policy["erased_fields"][-1] == "phoneNumbers"
    assert [s["topic"] for s in policy["statements"]][:2] == ["Retention (TTL)",
                                                               "Retention (ceiling)"]  # fmt: skip


def test_the_same_store_and_clock_give_the_same_bytes(reported: dict[str, str]) -> None:
    for fmt in ("json", "csv", "text", "html"):
        assert _report(reported, fmt) == _report(reported, fmt)


def _personal_values() -> Iterator[str]:
    for lead in _store_leads():
        contact = lead["contactRequest"]
        yield from (contact["firstName"], contact["lastName"], contact["email"],
                    contact["message"])  # fmt: skip
        yield from (phone["number"] for phone in contact["phoneNumbers"])
    yield from ("nobody.c@example.com", "nobody.d@example.com")


def test_no_format_holds_personal_data(reported: dict[str, str]) -> None:
    rendered = "\n".join(_report(reported, fmt) for fmt in ("json", "csv", "text", "html"))
    for value in _personal_values():
        assert value not in rendered


def test_the_csv_layout(reported: dict[str, str]) -> None:
    rows = list(csv.reader(io.StringIO(_report(reported, "csv"))))
    assert rows[0] == ["section", "figure", "key", "value"]
    assert ["purged", "total", "", "5"] in rows
    assert ["purged", "by_rule", "ceiling", "1"] in rows
    assert ["purged", "by_day.count", "2026-01-11", "5"] in rows
    assert ["erased", "by_source", "suppression", "1"] in rows
    assert ["erasure_requests", "by_age.open", "overdue", "1"] in rows
    assert ["backlog", "by_day.max_due_at_start", "2026-01-11", "6"] in rows
    assert ["runs", "failed", "purge", "1"] in rows
    assert ["audit_chain", "ok", "", "true"] in rows
    assert ["erasure_requests", "max_days_to_complete", "", "50.04"] in rows
    assert ["period", "since", "", "2026-01-01T00:00:00Z"] in rows
    assert all(len(row) == 4 for row in rows)


def test_the_text_report_says_it_for_a_terminal(reported: dict[str, str]) -> None:
    text = _report(reported, "text")
    assert text.startswith("Compliance report: 2026-01-01 to 2026-01-31 (UTC, 31 days)\n")
    assert "Leads purged: 5" in text and "ttl 4 · ceiling 1" in text
    assert "request 3 · suppression 1 · upstream 1" in text
    assert "overdue now           1" in text
    assert "Backlog (due but still present): 1" in text
    assert "intact:" in text
    assert all(len(line) <= 88 or ":" in line.split()[-1] for line in text.splitlines())


def test_output_file_and_a_broken_chain(
    reported: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    from sqlalchemy import update

    from retention.storage.schema import audit_events
    from tests.conftest import audit_tampering

    target = tmp_path / "out" / "january.json"
    with freeze_time(REPORTED_AT):
        written = run(["report", *PERIOD, "--format", "json", "--output", str(target)], reported)
    assert written.exit_code == 0 and written.stdout == ""
    assert json.loads(target.read_text())["purged"]["total"] == 5
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(update(audit_events).where(audit_events.c.id == 3).values(lead_id="x"))
    with freeze_time(REPORTED_AT):
        broken = run(["report", *PERIOD, "--format", "json"], reported)
    assert broken.exit_code == 1
    chain = json.loads(broken.stdout)["audit_chain"]
    assert (chain["ok"], chain["first_bad_event"]) == (False, 3)
    assert "audit chain broken at event 3" in broken.stderr


def test_the_quick_check_builds_on_the_last_full_walk(
    reported: dict[str, str], engine: Engine
) -> None:
    from sqlalchemy import update

    from retention.storage.schema import audit_events
    from tests.conftest import audit_tampering

    with freeze_time("2026-01-31T06:00:00Z"):
        assert run(["audit", "verify"], reported).exit_code == 0
    chain = json.loads(_report(reported))["audit_chain"]
    head = chain["head"]["event_id"]
    assert (chain["walked_in_full_through"], chain["walked_in_full_at"]) == (
        head, "2026-01-31T06:00:00Z"
    )  # fmt: skip
    assert "in full at 2026-01-31T06:00:00Z; no event since" in _report(reported, "text")
    # What the full walk covered is not walked again (audit verify and the report job do):
    # an event altered since is found by them, not by the quick check.
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(update(audit_events).where(audit_events.c.id == 3).values(lead_id="x"))
    assert json.loads(_report(reported))["audit_chain"]["ok"] is True
    assert run(["audit", "verify"], reported).exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2026-02-01", "--until", "2026-01-31"], "--since: 2026-02-01T00:00:00Z"),
        (["--since", "soon"], "'soon' is not a date"),
        (["--format", "pdf"], "'pdf' is not one of"),
    ],
)
def test_bad_periods_and_formats_are_usage_errors(
    environ: dict[str, str], engine: Engine, args: list[str], message: str
) -> None:
    result = run(["report", *args], environ)
    assert result.exit_code == 2 and message in result.stderr


def test_the_report_job_writes_each_period_once_per_format(
    reported: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "reports"
    env = {**reported, "RETENTION_JOBS_REPORT_FOLDER": str(folder),
           "RETENTION_JOBS_REPORT_FORMATS": '["json", "csv", "text"]'}  # fmt: skip

    def run_report(moment: str, *extra: str) -> dict[str, Any]:
        with freeze_time(moment):
            result = run(["run", "report", "--json", *extra], env)
        assert result.exit_code == 0, result.output
        return json_out(result)

    first = run_report("2026-02-01T06:00:00Z")
    names = [f"report_2026-01-02_2026-01-31.{ext}" for ext in ("json", "csv", "txt")]
    assert (first["status"], first["period"]) == ("succeeded", "2026-01-02_2026-01-31")
    assert first["files"] == [str(folder / name) for name in names]
    assert first["audit_chain_ok"] is True
    written = json.loads((folder / names[0]).read_text())
    assert written["period"]["since"] == "2026-01-02T00:00:00Z"
    assert written["audit_chain"]["walked_in_full_at"] == "2026-02-01T06:00:00Z"
    assert (folder / names[2]).read_text().startswith("Compliance report: 2026-01-02 to 2026-01-31")
    before = {name: (folder / name).read_bytes() for name in names}

    second = run_report("2026-02-02T06:00:00Z")  # the next day: the next period's files
    assert second["period"] == "2026-01-03_2026-02-01"
    assert {name: (folder / name).read_bytes() for name in names} == before
    run_report("2026-02-02T07:00:00Z")  # the same period again: its own files replaced
    assert len(list(folder.iterdir())) == 6

    dry = run_report("2026-02-03T06:00:00Z", "--dry-run")
    assert dry["dry_run"] is True and dry["files"][0].endswith("report_2026-01-04_2026-02-02.json")
    assert len(list(folder.iterdir())) == 6


def test_the_scheduler_runs_the_report_daily(settings: Settings) -> None:
    from jobs.scheduler import enabled_triggers

    triggers = enabled_triggers(settings)
    assert "report" in triggers
    assert str(triggers["report"]).startswith("cron[") and "hour='6'" in str(triggers["report"])


def test_run_report_prints_its_keys_when_the_database_is_down(
    environ: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    env = {**environ, "RETENTION_JOBS_REPORT_FOLDER": str(tmp_path)}
    ok = json_out(run(["run", "report", "--json"], env))
    down = run(
        ["run", "report", "--json"],
        {**env, "RETENTION_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    assert down.exit_code == 3
    failure = json_out(down)
    assert set(failure) == set(ok) and failure["exit_code"] == 3
    assert {k for k, v in failure.items() if v is not None} == {"error", "exit_code"}

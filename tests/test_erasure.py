"""Erasure of a seeker: by hand (`retention erase`), queued (`requests` + the erasure job),
on import (suppression, upstream), with holds, verification and residue. Both databases."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select, text

from jobs.erasure import erasure_job
from retention.config import Settings
from retention.services.audit import verify_audit_chain
from retention.services.erasure import erase_subject
from retention.services.requests import add_request
from retention.storage.engine import READ_ONLY
from retention.storage.locks import try_run_lock
from retention.storage.schema import erasure_requests, job_runs, leads
from tests.cli_helpers import json_out, run
from tests.factories import (
    FROZEN_NOW_TEXT,
    audit_rows,
    dump_text,
    fresh_lead,
    seed,
    snapshot,
    with_contact,
    write_jsonl,
)

POLICY_COLUMNS = ("first_name", "last_name", "name", "gender", "email", "language", "message")


@pytest.fixture(autouse=True)
def _frozen(engine: Engine) -> Iterator[None]:
    # After the store is open: the database driver is loaded under the real clock.
    with freeze_time(FROZEN_NOW_TEXT):
        yield


def _values_of(n: int) -> list[str]:
    """Every personal value make_lead(n) carries, as it would show up in a dump."""
    return [
        f"Prenom{n}",
        f"Nomfictif{n}",
        f"seeker.{n}@example.com",
        f"6000{n:05d}",  # the phone's digits, whatever the format around them
        f"Message fictif numero {n}",
    ]


def _lead_row(engine: Engine, lead_id: str) -> Any:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return conn.execute(select(leads).where(leads.c.lead_id == lead_id)).one()


def _requests(engine: Engine) -> list[Any]:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return list(conn.execute(select(erasure_requests).order_by(erasure_requests.c.id)))


def _erase(environ: dict[str, str], *args: str) -> Any:
    return run(["erase", *args], environ)


# --- the erasure itself -----------------------------------------------------------------


def test_erasing_a_subject_leaves_none_of_its_values_in_the_database(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    subject = fresh_lead(1)
    other = fresh_lead(2)
    # The same seeker on a second lead, their email typed in another case.
    second = with_contact(fresh_lead(3), email="SEEKER.1@Example.COM", firstName="Prenom1",
                          lastName="Nomfictif1", message="Message fictif numero 1, encore.",
                          phoneNumbers=[])  # fmt: skip
    seed(settings, engine, [subject, other, second])
    before_other = _lead_row(engine, "lead-000002")

    result = _erase(environ, "--email", "  Seeker.1@EXAMPLE.com ", "--json")

    assert result.exit_code == 0, result.stderr
    document = json_out(result)
    assert document["status"] == "completed" and document["leads_erased"] == 2
    assert isinstance(document["request_id"], int)
    dump = dump_text(engine).lower()
    for value in _values_of(1):
        assert value.lower() not in dump, value
    for value in _values_of(2):
        assert value.lower() in dump, value
    assert _lead_row(engine, "lead-000002") == before_other
    for lead_id in ("lead-000001", "lead-000003"):
        row = _lead_row(engine, lead_id)
        assert all(getattr(row, column) is None for column in POLICY_COLUMNS)
        assert row.is_owner is None and row.phone_numbers == [] and row.erased_at is not None
        contact = row.payload["contactRequest"]
        assert contact["phoneNumbers"] == []
        assert all(contact[f] is None for f in ("firstName", "lastName", "email", "message"))
        # Metadata and the property part stay until the TTL purge.
        assert row.payload["metadata"]["leadId"] == lead_id and row.ttl is not None
    assert "property" in _lead_row(engine, "lead-000001").payload
    (request,) = _requests(engine)
    assert (request.status, request.leads_erased, request.source) == ("completed", 2, "cli")
    assert request.subject is None and request.completed_at is not None


def test_each_erased_lead_has_one_event_naming_fields_not_values(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    request_id = json_out(_erase(environ, "--lead-id", "lead-000001", "--json"))["request_id"]
    events = [e for e in audit_rows(engine) if e.request_id == request_id]
    assert [e.action for e in events] == ["request.received", "lead.erased", "request.completed"]
    erased = events[1]
    assert (erased.lead_id, erased.request_id) == ("lead-000001", request_id)
    details = json.loads(erased.details)
    assert details["reason"] == "request" and "firstName" in details["fields"]
    assert "phoneNumbers" in details["fields"]
    assert verify_audit_chain(engine).ok


@pytest.mark.parametrize(
    ("stored", "typed"),
    [
        ("+33 6 11 22 33 44", ["--phone", "06 11 22 33 44", "--region", "FR"]),
        ("06 11 22 33 44", ["--phone", "0033611223344"]),
        ("0033611223344", ["--phone", "+33 6 11 22 33 44"]),
        ("06.11.22.33.44", ["--phone", "+33611223344"]),
    ],
)
def test_phone_variants_are_one_subject(
    settings: Settings, engine: Engine, environ: dict[str, str], stored: str, typed: list[str]
) -> None:
    lead = with_contact(fresh_lead(1), phoneNumbers=[{"type": "MOBILE", "number": stored}])
    seed(settings, engine, [lead, fresh_lead(2)])
    document = json_out(_erase(environ, *typed, "--json"))
    assert document["leads_erased"] == 1
    assert _lead_row(engine, "lead-000001").erased_at is not None
    assert _lead_row(engine, "lead-000002").erased_at is None


def test_a_national_number_on_a_german_portal_is_not_a_french_subject(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    german = with_contact(fresh_lead(1, portal="IWT-DEU"),
                          phoneNumbers=[{"number": "0611223344"}])  # fmt: skip
    seed(settings, engine, [german])
    assert (
        json_out(_erase(environ, "--phone", "06 11 22 33 44", "--region", "FR", "--json"))[
            "leads_erased"
        ]
        == 0
    )
    assert (
        json_out(_erase(environ, "--phone", "0611223344", "--region", "DE", "--json"))[
            "leads_erased"
        ]
        == 1
    )


def test_erasing_again_changes_nothing_and_succeeds(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    assert (
        json_out(_erase(environ, "--email", "seeker.1@example.com", "--json"))["leads_erased"] == 1
    )
    leads_before = snapshot(engine)["leads"]
    again = _erase(environ, "--email", "seeker.1@example.com", "--json")
    assert again.exit_code == 0
    assert json_out(again)["status"] == "completed" and json_out(again)["leads_erased"] == 0
    assert snapshot(engine)["leads"] == leads_before
    by_lead = _erase(environ, "--lead-id", "lead-000001", "--json")
    assert json_out(by_lead)["leads_erased"] == 0 and snapshot(engine)["leads"] == leads_before


def test_an_unknown_subject_completes_with_zero(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    document = json_out(_erase(environ, "--email", "nobody@example.com", "--json"))
    assert (document["status"], document["leads_erased"]) == ("completed", 0)
    assert _lead_row(engine, "lead-000001").erased_at is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "   "], "error: --email: must not be blank"),
        (["--email", ""], "error: --email: must not be blank"),
        (["--phone", " "], "error: --phone: must not be blank"),
        (["--phone", "+-()"], "error: --phone: must contain digits"),
        (["--lead-id", " "], "error: --lead-id: must not be blank"),
        ([], "error: give exactly one of --email, --phone or --lead-id"),
        (["--email", "a@example.com", "--lead-id", "x"],
         "error: give exactly one of --email, --phone or --lead-id"),
        (["--phone", "06 11 22 33 44"], "error: --phone: give the number with its country code"),
    ],
)  # fmt: skip
def test_blank_or_ambiguous_identifiers_are_refused_and_change_nothing(
    settings: Settings, engine: Engine, environ: dict[str, str], args: list[str], message: str
) -> None:
    # Leads whose email and phones are empty must never match a blank identifier.
    blank = with_contact(fresh_lead(1), email=None, phoneNumbers=[])
    empty = with_contact(fresh_lead(2), email=None, phoneNumbers=[{"number": ""}])
    seed(settings, engine, [blank, empty])
    before = snapshot(engine)
    result = _erase(environ, *args)
    assert result.exit_code == 2
    assert result.stderr.strip().startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(engine) == before


def test_dry_run_lists_leads_and_fields_and_records_nothing(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    partial = with_contact(fresh_lead(1), lastName=None, message="Message fictif numero 1.")
    del partial["contactRequest"]["isOwner"]
    seed(settings, engine, [partial])
    before = snapshot(engine)
    result = _erase(environ, "--email", "seeker.1@example.com", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    document = json_out(result)
    assert document["dry_run"] is True and document["request_id"] is None
    assert document["leads_erased"] == 1 and document["lead_ids"] == ["lead-000001"]
    assert document["fields"] == {
        "lead-000001": [
            "firstName", "gender", "language", "message", "email", "phoneNumbers",
        ]
    }  # fmt: skip
    assert snapshot(engine) == before
    assert "Prenom1" not in result.stdout and "seeker.1" not in result.stdout


# --- verification -----------------------------------------------------------------------


def _install_restoring_trigger(engine: Engine, column: str = "first_name") -> None:
    """A rogue trigger that puts lead-000001's `column` (a name, or the stored JSON) back
    after every update: the kind of thing the verification exists to catch."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION restore_name() RETURNS trigger AS $$ BEGIN "
                    f"IF OLD.lead_id = 'lead-000001' THEN NEW.{column} := OLD.{column}; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER restore_name BEFORE UPDATE ON leads FOR EACH ROW "
                    "EXECUTE FUNCTION restore_name()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER restore_name AFTER UPDATE ON leads "
                    "WHEN NEW.lead_id = 'lead-000001' "
                    f"BEGIN UPDATE leads SET {column} = OLD.{column} "
                    "WHERE lead_id = NEW.lead_id; END"
                )
            )


def _drop_restoring_trigger(engine: Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER restore_name ON leads"))
            conn.execute(text("DROP FUNCTION restore_name()"))
        else:
            conn.execute(text("DROP TRIGGER restore_name"))


@pytest.mark.parametrize("kept", ["first_name", "payload"])
def test_a_failed_verification_fails_the_request_and_changes_no_lead(
    settings: Settings, engine: Engine, environ: dict[str, str], kept: str
) -> None:
    seed(settings, engine, [fresh_lead(1), fresh_lead(2)])
    _install_restoring_trigger(engine, kept)
    try:
        leads_before = snapshot(engine)["leads"]
        result = _erase(environ, "--email", "seeker.1@example.com", "--json")
        assert result.exit_code == 1
        document = json_out(result)
        assert document["status"] == "failed" and document["leads_erased"] == 0
        assert "lead-000001" in document["error"] and "Prenom1" not in document["error"]
        assert snapshot(engine)["leads"] == leads_before
        (request,) = _requests(engine)
        assert request.status == "failed" and "verification failed" in request.error
        assert [e.action for e in audit_rows(engine)][-1] == "request.failed"
        # Queued requests in the same batch: the good one completes, the bad one fails.
        add_request(settings, engine, now=_now(), email="seeker.2@example.com")
        done = erasure_job(settings, engine)
        assert done.outcome.status == "failed" and done.result is not None
        assert (done.result.completed, done.result.failed) == (1, 1)
        assert _lead_row(engine, "lead-000002").erased_at is not None
        assert _lead_row(engine, "lead-000001").erased_at is None
    finally:
        _drop_restoring_trigger(engine)
    # Fixed: the next run finishes the failed request.
    again = erasure_job(settings, engine)
    assert again.outcome.status == "succeeded" and again.result is not None
    assert again.result.completed == 1 and _lead_row(engine, "lead-000001").erased_at is not None


def _now() -> Any:
    from retention import clock

    return clock.utcnow()


# --- holds ------------------------------------------------------------------------------


def test_a_hold_defers_the_request_until_released_then_the_job_finishes_it(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(
        settings, engine, [fresh_lead(1), with_contact(fresh_lead(2), email="seeker.1@example.com")]
    )
    hold = json_out(run(["hold", "place", "--lead-id", "lead-000002", "--reason", "case 7",
                         "--json"], environ))  # fmt: skip
    document = json_out(_erase(environ, "--email", "seeker.1@example.com", "--json"))
    assert (document["status"], document["leads_erased"], document["hold_skipped"]) == (
        "deferred", 1, 1,
    )  # fmt: skip
    assert _lead_row(engine, "lead-000002").first_name == "Prenom2"
    assert "lead.hold_skipped" in [e.action for e in audit_rows(engine)]
    (request,) = _requests(engine)
    assert request.status == "deferred" and request.subject is None  # never an email in clear

    still = json_out(run(["run", "erasure", "--json"], environ))
    assert (still["deferred"], still["leads_erased"]) == (1, 0)
    run(["hold", "release", str(hold["hold_id"])], environ)
    finished = json_out(run(["run", "erasure", "--json"], environ))
    assert (finished["status"], finished["completed"], finished["leads_erased"]) == (
        "succeeded", 1, 1,
    )  # fmt: skip
    (request,) = _requests(engine)
    assert (request.status, request.leads_erased, request.subject) == ("completed", 2, None)
    assert "Prenom2" not in dump_text(engine)


def test_a_subject_hold_keeps_every_lead_of_the_subject(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    run(["hold", "place", "--email", "SEEKER.1@example.com", "--reason", "litigation"], environ)
    document = json_out(_erase(environ, "--email", "seeker.1@example.com", "--json"))
    assert (document["status"], document["leads_erased"]) == ("deferred", 0)
    assert _lead_row(engine, "lead-000001").erased_at is None


# --- the queue and the job --------------------------------------------------------------


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


# --- on import --------------------------------------------------------------------------


@pytest.mark.parametrize("in_memory", [True, False], ids=["entries-in-memory", "entries-joined"])
def test_a_lead_of_an_erased_subject_imported_later_is_stored_erased(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, in_memory: bool,
) -> None:  # fmt: skip
    if not in_memory:  # more suppression entries than the import keeps in memory
        monkeypatch.setattr("retention.services.import_erasure.IN_MEMORY_ENTRIES", 0)
    seed(settings, engine, [fresh_lead(1)])
    request_id = json_out(_erase(environ, "--phone", "+33600000001", "--json"))["request_id"]
    # A new lead id, the same phone written another way, another email.
    later = with_contact(fresh_lead(9), email="other.9@example.com",
                         phoneNumbers=[{"number": "06 00 00 00 01"}])  # fmt: skip
    result = run(["import", str(write_jsonl(tmp_path / "later.jsonl", [later])), "--json"], environ)
    assert result.exit_code == 0, result.stderr
    document = json_out(result)
    assert (document["imported"], document["erased_on_import"]) == (1, 1)
    row = _lead_row(engine, "lead-000009")
    assert row.erased_at is not None and row.email is None and row.phone_numbers == []
    assert "other.9@example.com" not in dump_text(engine)
    erased = [e for e in audit_rows(engine) if e.action == "lead.erased"][-1]
    assert erased.lead_id == "lead-000009" and erased.request_id == request_id
    assert json.loads(erased.details)["reason"] == "suppression"
    assert verify_audit_chain(engine).ok


def test_a_dry_run_import_of_a_suppressed_lead_writes_nothing(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    run(["erase", "--email", "seeker.5@example.com"], environ)
    before = snapshot(engine)
    path = write_jsonl(tmp_path / "l.jsonl", [fresh_lead(5)])
    document = json_out(run(["import", str(path), "--dry-run", "--json"], environ))
    assert document["erased_on_import"] == 1
    assert snapshot(engine) == before


def test_a_lead_erased_upstream_erases_our_copy(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [fresh_lead(1), fresh_lead(2)])
    upstream = with_contact(fresh_lead(1), firstName=None, lastName=None, gender=None,
                            language=None, message=None, phoneNumbers=[])  # fmt: skip
    # As documented upstream: the email (and isOwner) may survive the upstream's erasure.
    path = write_jsonl(tmp_path / "page.jsonl", [upstream, fresh_lead(2)])
    document = json_out(run(["import", str(path), "--json"], environ))
    assert (document["updated"], document["erased_on_import"]) == (2, 1)
    row = _lead_row(engine, "lead-000001")
    assert row.erased_at is not None and row.email is None
    assert row.payload["contactRequest"]["email"] is None
    assert _lead_row(engine, "lead-000002").erased_at is None
    dump = dump_text(engine)
    assert all(value not in dump for value in _values_of(1))
    (request,) = _requests(engine)
    assert (request.kind, request.source, request.status, request.leads_erased) == (
        "lead_id", "upstream", "completed", 1,
    )  # fmt: skip
    erased = [e for e in audit_rows(engine) if e.action == "lead.erased"]
    assert [json.loads(e.details)["reason"] for e in erased] == ["upstream"]
    # Delivered again erased: nothing more happens.
    again = json_out(run(["import", str(path), "--json"], environ))
    assert again["erased_on_import"] == 1 and len(_requests(engine)) == 1


def test_an_upstream_erased_lead_we_never_had_is_stored_erased(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    upstream = with_contact(fresh_lead(1), firstName=None, lastName=None, gender=None,
                            language=None, message=None, phoneNumbers=[])  # fmt: skip
    path = write_jsonl(tmp_path / "page.jsonl", [upstream])
    document = json_out(run(["import", str(path), "--json"], environ))
    assert (document["imported"], document["erased_on_import"]) == (1, 1)
    row = _lead_row(engine, "lead-000001")
    # The upstream leaves the email; the seeker asked for erasure all the same.
    assert row.erased_at is not None and row.email is None
    assert "seeker.1@example.com" not in dump_text(engine)
    (request,) = _requests(engine)
    assert (request.source, request.status) == ("upstream", "completed")


def test_a_held_lead_keeps_our_copy_when_it_arrives_erased_upstream(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    run(["hold", "place", "--lead-id", "lead-000001", "--reason", "case 9"], environ)
    upstream = with_contact(fresh_lead(1), firstName=None, lastName=None, gender=None,
                            language=None, message=None, phoneNumbers=[])  # fmt: skip
    leads_before = snapshot(engine)["leads"]
    path = write_jsonl(tmp_path / "page.jsonl", [upstream])
    document = json_out(run(["import", str(path), "--json"], environ))
    assert document["hold_skipped"] == 1 and document["erased_on_import"] == 0
    assert snapshot(engine)["leads"] == leads_before
    assert [e.action for e in audit_rows(engine)][-1] == "lead.hold_skipped"


# --- personal data stays out of everything but the leads ---------------------------------


def test_no_personal_data_in_audit_job_runs_logs_or_errors(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [fresh_lead(1), fresh_lead(2)])
    outputs = []
    for args in (
        ["erase", "--email", "seeker.1@example.com", "--reference", "T-1"],
        ["requests", "add", "--phone", "+33600000002"],
        ["requests", "add", "--email", "seeker.3@example.com"],
        ["requests", "list"],
        ["requests", "list", "--json"],
        ["run", "erasure"],
        ["run", "erasure", "--json"],
        ["erase", "--phone", "06 00 00 00 02"],  # refused: no --region
        ["erase", "--email", "seeker.2@example.com", "--dry-run"],
    ):
        result = run(["-v", "--log-format", "json", *args], environ)
        outputs.append(result.stdout + result.stderr)
    text_seen = "\n".join(outputs).lower()
    with engine.connect() as conn:
        audit_text = json.dumps([tuple(map(str, row)) for row in conn.execute(text(
            "SELECT * FROM audit_events"))]).lower()  # fmt: skip
        runs_text = json.dumps([tuple(map(str, row)) for row in conn.execute(select(job_runs))])
    for n in (1, 2, 3):
        for value in _values_of(n):
            if value.startswith("Message"):
                continue
            assert value.lower() not in text_seen, value
            assert value.lower() not in audit_text, value
            assert value.lower() not in runs_text.lower(), value
    assert "600000002" not in text_seen and "06 00 00 00 02" not in text_seen


# --- residue ----------------------------------------------------------------------------


def test_erased_values_leave_no_residue(settings: Settings, engine: Engine) -> None:
    """SQLite: neither the database file nor its WAL holds an erased value (secure_delete,
    then a checkpoint). PostgreSQL: the changed tables are vacuumed, no dead row is left."""
    seed(settings, engine, [fresh_lead(n) for n in range(1, 40)])
    add_request(settings, engine, now=_now(), email="seeker.7@example.com")
    done = erasure_job(settings, engine)
    assert done.residue is not None and done.residue.done
    if engine.dialect.name == "postgresql":
        assert (done.residue.action, done.residue.dead_rows) == ("vacuum", 0)
        return
    assert done.residue.action == "wal_checkpoint"
    database = Path(str(engine.url.database))
    raw = b"".join(
        path.read_bytes() for path in database.parent.glob(database.name + "*") if path.is_file()
    )
    for value in _values_of(7):
        assert value.encode() not in raw, value
    assert b"Prenom8" in raw  # the check can see what is there


# --- the job's run ----------------------------------------------------------------------


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


def test_fields_the_policy_adds_are_erased_from_the_stored_json(
    settings: Settings, engine: Engine
) -> None:
    lead = with_contact(fresh_lead(1), nickname="Pseudo1")
    seed(settings, engine, [lead])
    policy = dataclasses.replace(settings.erasure, fields=(*settings.erasure.fields, "nickname"))
    outcome = erase_subject(
        dataclasses.replace(settings, erasure=policy), engine, now=_now(), lead_id="lead-000001"
    )
    assert (outcome.status, outcome.leads_erased) == ("completed", 1)
    assert _lead_row(engine, "lead-000001").payload["contactRequest"]["nickname"] is None
    assert "Pseudo1" not in dump_text(engine)


# --- after the review: holds at import, reuse, counts, residue of `erase` ----------------


def test_a_held_lead_arriving_erased_upstream_is_erased_once_released(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    hold = json_out(run(["hold", "place", "--lead-id", "lead-000001", "--reason", "case 3",
                         "--json"], environ))  # fmt: skip
    upstream = with_contact(fresh_lead(1), firstName=None, lastName=None, gender=None,
                            language=None, message=None, phoneNumbers=[])  # fmt: skip
    run(["import", str(write_jsonl(tmp_path / "page.jsonl", [upstream]))], environ)
    (request,) = _requests(engine)
    assert (request.kind, request.source, request.status) == ("lead_id", "upstream", "deferred")
    assert _lead_row(engine, "lead-000001").first_name == "Prenom1"
    run(["hold", "release", str(hold["hold_id"])], environ)
    document = json_out(run(["run", "erasure", "--json"], environ))
    assert (document["completed"], document["leads_erased"]) == (1, 1)
    assert all(value not in dump_text(engine) for value in _values_of(1))


def test_a_held_lead_of_an_erased_subject_is_erased_once_the_hold_expires(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    run(["erase", "--email", "seeker.4@example.com"], environ)
    run(["hold", "place", "--phone", "+33600000004", "--reason", "dispute",
         "--until", "2026-02-01"], environ)  # fmt: skip
    document = json_out(run(["import", str(write_jsonl(tmp_path / "l.jsonl", [fresh_lead(4)])),
                             "--json"], environ))  # fmt: skip
    assert (document["imported"], document["hold_skipped"], document["erased_on_import"]) == (
        1, 1, 0,
    )  # fmt: skip
    deferred = [r for r in _requests(engine) if r.status == "deferred"]
    assert [(r.kind, r.source) for r in deferred] == [("lead_id", "import")]
    assert json_out(run(["run", "erasure", "--json"], environ))["deferred"] == 1
    with freeze_time("2026-02-02T00:00:00+00:00"):  # the hold has expired
        finished = json_out(run(["run", "erasure", "--json"], environ))
    assert (finished["completed"], finished["leads_erased"]) == (1, 1)
    assert _lead_row(engine, "lead-000004").erased_at is not None


def test_erase_carries_out_the_open_request_of_the_subject_instead_of_a_new_one(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    queued = json_out(run(["requests", "add", "--email", "seeker.1@example.com", "--json"],
                          environ))  # fmt: skip
    document = json_out(_erase(environ, "--email", "SEEKER.1@example.com", "--json"))
    assert document["request_id"] == queued["request_id"]
    assert (document["status"], document["leads_erased"]) == ("completed", 1)
    assert len(_requests(engine)) == 1


def test_leads_suppressed_on_import_are_counted_in_their_request(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    run(["erase", "--email", "seeker.1@example.com"], environ)
    later = [with_contact(fresh_lead(n), email="seeker.1@example.com") for n in (7, 8)]
    run(["import", str(write_jsonl(tmp_path / "later.jsonl", later))], environ)
    (request,) = _requests(engine)
    assert request.leads_erased == 3
    erased = [e for e in audit_rows(engine) if e.action == "lead.erased"]
    assert [e.request_id for e in erased] == [request.id] * 3


def test_a_single_erase_leaves_no_value_in_the_sqlite_files(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(n) for n in range(1, 30)])
    document = json_out(_erase(environ, "--email", "seeker.5@example.com", "--json"))
    residue = document["residue"]
    if engine.dialect.name == "postgresql":
        # Left to the next erasure run's VACUUM, and said so.
        assert residue["action"] == "none" and residue["dead_rows"] >= 0
        done = erasure_job(settings, engine)
        assert done.residue is not None and done.residue.action == "vacuum"
        return
    assert residue == {"action": "wal_checkpoint", "dead_rows": None, "detail": None, "done": True}
    database = Path(str(engine.url.database))
    raw = b"".join(
        path.read_bytes() for path in database.parent.glob(database.name + "*") if path.is_file()
    )
    assert all(value.encode() not in raw for value in _values_of(5))


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


def test_a_lead_id_names_the_seeker_behind_the_lead(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    same_email = with_contact(fresh_lead(2), email="seeker.1@example.com", phoneNumbers=[])
    same_phone = with_contact(fresh_lead(3), phoneNumbers=[{"number": "+33600000001"}])
    seed(settings, engine, [fresh_lead(1), same_email, same_phone, fresh_lead(4)])
    document = json_out(_erase(environ, "--lead-id", "lead-000001", "--json"))
    assert (document["status"], document["leads_erased"]) == ("completed", 3)
    assert _lead_row(engine, "lead-000004").erased_at is None
    # The lead's email and phone are remembered: a later lead of theirs is erased on arrival.
    reference = f"from request {document['request_id']}"
    derived = [r for r in _requests(engine) if r.reference == reference]
    assert sorted(r.kind for r in derived) == ["email", "phone"]
    assert all(r.status == "completed" and r.subject is None for r in derived)
    later = with_contact(fresh_lead(9), email="other@example.com",
                         phoneNumbers=[{"number": "06 00 00 00 01"}])  # fmt: skip
    path = write_jsonl(tmp_path / "l.jsonl", [later])
    assert json_out(run(["import", str(path), "--json"], environ))["erased_on_import"] == 1
    assert verify_audit_chain(engine).ok


# --- batches side by side (PostgreSQL) ----------------------------------------------------


def _with_erasure(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, erasure=dataclasses.replace(settings.erasure, **changes))


def test_batches_side_by_side_erase_and_audit_every_lead_once(
    settings: Settings, engine: Engine
) -> None:
    seed(settings, engine, [fresh_lead(n) for n in range(1, 41)])
    for n in range(1, 41):
        add_request(settings, engine, now=_now(), email=f"seeker.{n}@example.com")
    seen: list[int] = []
    done = erasure_job(
        _with_erasure(settings, batch_size=3, workers=2), engine,
        on_batch=lambda progress: seen.append(progress.requests),
    )  # fmt: skip
    assert done.outcome.status == "succeeded" and done.result is not None
    assert (done.result.completed, done.result.leads_erased, done.result.batches) == (40, 40, 14)
    assert seen == sorted(seen) and seen[-1] == 40
    erased = [e.lead_id for e in audit_rows(engine) if e.action == "lead.erased"]
    assert sorted(erased) == [f"lead-{n:06d}" for n in range(1, 41)]
    assert all(r.status == "completed" for r in _requests(engine))
    assert verify_audit_chain(engine).ok


def test_a_request_whose_lead_another_batch_holds_is_finished_in_the_same_run(
    settings: Settings, engine: Engine
) -> None:
    """Two batches side by side: a request meeting a lead that another transaction holds at
    that moment is carried out again once the batches are done (PostgreSQL; SQLite runs one
    batch at a time and its writers never meet)."""
    seed(settings, engine, [fresh_lead(1), fresh_lead(2)])
    first = add_request(settings, engine, now=_now(), email="seeker.1@example.com")
    add_request(settings, engine, now=_now(), email="seeker.2@example.com")
    holder = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            holder.execute(text("SELECT 1 FROM leads WHERE lead_id = 'lead-000001' FOR UPDATE"))

        def release(progress: Any) -> None:
            if progress.requests == 2 and holder.in_transaction():
                holder.rollback()  # both requests had their first try

        done = erasure_job(
            _with_erasure(settings, batch_size=1, workers=2), engine, on_batch=release
        )
    finally:
        holder.close()
    assert done.result is not None
    assert (done.result.requests, done.result.completed, done.result.leads_erased) == (2, 2, 2)
    assert done.result.batches == (3 if engine.dialect.name == "postgresql" else 2)
    (outcome,) = [o for o in done.result.outcomes if o.request_id == first.request_id]
    assert (outcome.status, outcome.erased_now, outcome.busy) == ("completed", 1, False)
    assert _lead_row(engine, "lead-000001").erased_at is not None
    assert [e.request_id for e in audit_rows(engine) if e.action == "lead.erased"].count(
        first.request_id
    ) == 1


def test_a_held_lead_of_a_request_taken_up_again_is_audited_once_per_run(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    """A request meets a lead another transaction holds and a lead under a legal hold: the
    retry in the same run finishes it (deferred) without auditing the held lead's skip twice.
    Only PostgreSQL retries (SQLite runs one batch at a time): there the same request ends the
    same way in one pass."""
    held = with_contact(fresh_lead(3), email="seeker.1@example.com", phoneNumbers=[])
    seed(settings, engine, [fresh_lead(1), fresh_lead(2), held])
    run(["hold", "place", "--lead-id", "lead-000003", "--reason", "case 4"], environ)
    first = add_request(settings, engine, now=_now(), email="seeker.1@example.com")
    add_request(settings, engine, now=_now(), email="seeker.2@example.com")
    holder = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            holder.execute(text("SELECT 1 FROM leads WHERE lead_id = 'lead-000001' FOR UPDATE"))

        def release(progress: Any) -> None:
            if progress.requests == 2 and holder.in_transaction():
                holder.rollback()

        done = erasure_job(
            _with_erasure(settings, batch_size=1, workers=2), engine, on_batch=release
        )
    finally:
        holder.close()
    assert done.result is not None
    assert done.result.batches == (3 if engine.dialect.name == "postgresql" else 2)
    (outcome,) = [o for o in done.result.outcomes if o.request_id == first.request_id]
    assert (outcome.status, outcome.erased_now, outcome.hold_skipped) == ("deferred", 1, 1)
    skips = [e for e in audit_rows(engine) if e.action == "lead.hold_skipped"]
    assert [(e.lead_id, e.request_id) for e in skips] == [("lead-000003", first.request_id)]
    assert done.result.hold_skipped == 1
    assert verify_audit_chain(engine).ok


def test_a_retry_failing_its_verification_still_reports_the_skip_audited_before(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    """The retry of a request (PostgreSQL) fails its verification: the request fails, and
    the run still counts the held lead whose skip its first pass audited. Whatever the path,
    the skips a run reports are the skips its audit holds."""
    held = with_contact(fresh_lead(3), email="seeker.1@example.com", phoneNumbers=[])
    seed(settings, engine, [fresh_lead(1), fresh_lead(2), held])
    run(["hold", "place", "--lead-id", "lead-000003", "--reason", "case 5"], environ)
    first = add_request(settings, engine, now=_now(), email="seeker.1@example.com")
    add_request(settings, engine, now=_now(), email="seeker.2@example.com")
    _install_restoring_trigger(engine)  # lead-000001 keeps its first name: never verifies
    holder = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            holder.execute(text("SELECT 1 FROM leads WHERE lead_id = 'lead-000001' FOR UPDATE"))

        def release(progress: Any) -> None:
            if progress.requests == 2 and holder.in_transaction():
                holder.rollback()

        done = erasure_job(
            _with_erasure(settings, batch_size=1, workers=2), engine, on_batch=release
        )
    finally:
        holder.close()
        _drop_restoring_trigger(engine)
    assert done.result is not None
    (outcome,) = [o for o in done.result.outcomes if o.request_id == first.request_id]
    assert outcome.status == "failed"
    assert _lead_row(engine, "lead-000001").erased_at is None
    assert _lead_row(engine, "lead-000002").erased_at is not None
    skips = [e for e in audit_rows(engine) if e.action == "lead.hold_skipped"]
    # PostgreSQL: audited by the first pass, before the retry failed; SQLite: one pass,
    # rolled back with the failed batch.
    expected = 1 if engine.dialect.name == "postgresql" else 0
    assert len(skips) == outcome.hold_skipped == done.result.hold_skipped == expected
    assert verify_audit_chain(engine).ok


def test_a_subject_being_recorded_elsewhere_is_not_recorded_twice(
    settings: Settings, engine: Engine
) -> None:
    """Two transactions recording a request for one subject at the same moment (two
    `requests add`, or two erasure workers deriving a suppression entry): the second waits for
    the first and then finds its request instead of recording a second one."""
    import threading

    from retention.services.erasure import record_request
    from retention.services.subjects import request_subject_of
    from retention.storage.dialect import take_request_intake_lock

    # The store's subject key is set up first: the only lock the two then meet is the intake.
    add_request(settings, engine, now=_now(), email="seeker.8@example.com")
    results: list[Any] = []
    with engine.connect() as holder:
        with holder.begin():
            take_request_intake_lock(holder)
            subject = request_subject_of(settings, holder, email="seeker.7@example.com")
            record_request(holder, subject, source="cli", reference=None, received_at=_now(),
                           now=_now())  # fmt: skip
            second = threading.Thread(
                target=lambda: results.append(
                    add_request(settings, engine, now=_now(), email="Seeker.7@example.com")
                )
            )
            second.start()
            if engine.dialect.name == "postgresql":
                # Until the second transaction is seen waiting for the intake lock.
                with engine.connect() as probe:
                    waiting = 0
                    for _ in range(10_000):
                        waiting = probe.scalar(
                            text(
                                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                "AND NOT granted AND objid = :key"
                            ),
                            {"key": 0x6C72_0004},
                        )
                        probe.rollback()
                        if waiting or not second.is_alive():
                            break
                    assert waiting == 1
        second.join(timeout=60)
    assert not second.is_alive()
    (queued,) = results
    assert queued.request_id is None and queued.duplicate_of is not None
    assert len(_requests(engine)) == 2  # seeker 8's and seeker 7's

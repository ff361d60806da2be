"""Erasure by hand (`retention erase`): none of the seeker's values left, one event per lead,
identifiers normalized, a lead id naming its seeker, idempotence, dry run, an open request
carried out, fields the policy adds, a failed verification, holds. Both databases."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from jobs.erasure import erasure_job
from retention.config import Settings
from retention.services.audit import verify_audit_chain
from retention.services.erasure import erase_subject
from retention.services.requests import add_request
from tests.cli_helpers import json_out, run
from tests.erasure_helpers import (
    _drop_restoring_trigger,
    _erase,
    _install_restoring_trigger,
    _lead_row,
    _now,
    _requests,
    _values_of,
)
from tests.erasure_helpers import _frozen as _frozen  # autouse: every test under the frozen clock
from tests.factories import (
    audit_rows,
    dump_text,
    fresh_lead,
    seed,
    snapshot,
    with_contact,
    write_jsonl,
)

POLICY_COLUMNS = ("first_name", "last_name", "name", "gender", "email", "language", "message")


# --- the erasure itself ------------------------------------------------------------------


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


# --- verification ------------------------------------------------------------------------


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


# --- holds -------------------------------------------------------------------------------


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

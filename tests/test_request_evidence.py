"""`retention requests show ID`: the evidence of one erasure request (leads and fields erased,
the verification, the holds that deferred it, its audit events and the chain head), never
the clear identifier, read only. Both databases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine

from retention.config import Settings
from retention.storage.audit import read_head
from retention.storage.engine import READ_ONLY
from tests.cli_helpers import json_out, run
from tests.erasure_helpers import (
    _drop_restoring_trigger,
    _install_restoring_trigger,
    _requests,
    _values_of,
)
from tests.erasure_helpers import _frozen as _frozen  # autouse: every test under the frozen clock
from tests.factories import audit_rows, fresh_lead, snapshot, with_contact, write_jsonl

EMAIL = "shared.seeker@example.com"
SEEKER_LEADS = ["lead-000001", "lead-000002", "lead-000003"]
FIELDS = ["firstName", "lastName", "name", "gender", "language", "message", "email", "isOwner",
          "phoneNumbers"]  # fmt: skip


def _import_seeker(environ: dict[str, str], tmp_path: Path) -> None:
    """Three leads of one seeker (EMAIL; each with its own name and phone number), and a
    lead of somebody else."""
    leads = [with_contact(fresh_lead(n), email=EMAIL) for n in (1, 2, 3)] + [fresh_lead(4)]
    result = run(["import", str(write_jsonl(tmp_path / "leads.jsonl", leads))], environ)
    assert result.exit_code == 0, result.stderr


def _clear_values() -> list[str]:
    """Every personal value of the imported seeker's leads: the email in any case, names,
    phone digits, messages."""
    return [EMAIL, EMAIL.upper(), "shared.seeker", *(v for n in (1, 2, 3) for v in _values_of(n))]


def _assert_no_clear_identifier(*results: Result) -> None:
    for result in results:
        output = result.stdout + result.stderr
        for value in _clear_values():
            assert value.lower() not in output.lower(), value


def _show(environ: dict[str, str], request_id: int) -> tuple[dict[str, Any], Result]:
    result = run(["requests", "show", str(request_id), "--json"], environ)
    assert result.exit_code == 0, result.stderr
    return json_out(result), result


def _queue(environ: dict[str, str], *extra: str) -> int:
    document = json_out(run(["requests", "add", "--email", EMAIL.upper(), "--json", *extra],
                            environ))  # fmt: skip
    request_id: int = document["request_id"]
    return request_id


def _run_erasure(environ: dict[str, str]) -> None:
    result = run(["run", "erasure", "--json"], environ)
    assert result.exit_code == 0, result.stderr


def _head(engine: Engine) -> dict[str, Any]:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        head = read_head(conn)
    return {"event_id": head.event_id, "hash": head.hash}


def _request_events(engine: Engine, request_id: int) -> list[tuple[Any, ...]]:
    return [
        (row.id, row.occurred_at.isoformat(), row.action, row.lead_id, row.run_id, row.hash)
        for row in audit_rows(engine)
        if row.request_id == request_id
    ]


def _shown_events(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (e["id"], e["occurred_at"], e["action"], e["lead_id"], e["run_id"], e["hash"])
        for e in document["events"]
    ]


# --- a completed request -------------------------------------------------------------------


@pytest.mark.parametrize("how", ["queued then run erasure", "erase at once"])
def test_the_evidence_of_a_completed_request_names_its_leads_fields_and_events(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path, how: str
) -> None:
    _import_seeker(environ, tmp_path)
    if how == "erase at once":
        erased = run(["erase", "--email", EMAIL, "--reference", "T-7", "--json"], environ)
        request_id = json_out(erased)["request_id"]
    else:
        request_id = _queue(environ, "--reference", "T-7")
        _run_erasure(environ)
    before = snapshot(engine)

    document, result = _show(environ, request_id)

    request = document["request"]
    assert (request["id"], request["kind"], request["status"]) == (request_id, "email", "completed")
    assert (request["source"], request["reference"]) == ("cli", "T-7")
    assert request["received_at"] == "2026-01-15T12:00:00+00:00"
    assert request["due_at"] == "2026-02-15T23:59:59+00:00"
    assert request["completed_at"] == "2026-01-15T12:00:00+00:00"
    assert (request["on_time"], request["overdue"], request["error"]) == (True, False, None)
    (row,) = _requests(engine)
    assert request["subject_hash_prefix"] == bytes(row.subject_hash).hex()[:8]
    assert document["leads_erased"] == 3
    assert sorted(document["lead_ids"]) == SEEKER_LEADS
    assert document["fields"] == FIELDS
    assert document["verification"] == {"result": "passed", "leads_verified": 3, "failures": []}
    assert (document["held_lead_ids"], document["deferrals"], document["holds"]) == ([], [], [])
    assert _shown_events(document) == _request_events(engine, request_id)
    actions = [e["action"] for e in document["events"]]
    assert actions == ["request.received", *["lead.erased"] * 3, "request.completed"]
    assert all(e["hash_ok"] for e in document["events"])
    assert {e["reason"] for e in document["events"] if e["action"] == "lead.erased"} == {"request"}
    assert document["audit_head"] == _head(engine)
    assert document["error"] is None and document["exit_code"] == 0
    _assert_no_clear_identifier(result)
    assert snapshot(engine) == before  # reads only: no row, no event


def test_the_text_form_holds_the_same_facts(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _import_seeker(environ, tmp_path)
    request_id = _queue(environ, "--reference", "T-8")
    _run_erasure(environ)
    document, _ = _show(environ, request_id)

    result = run(["requests", "show", str(request_id)], environ)

    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert f"erasure request {request_id}: completed" in text
    assert f"email (keyed hash {document['request']['subject_hash_prefix']}" in text
    assert "reference T-8" in text
    assert "due 2026-02-15T23:59:59+00:00, completed 2026-01-15T12:00:00+00:00 (on time)" in text
    assert f"leads erased: 3 ({', '.join(document['lead_ids'])})" in text
    assert f"fields erased: {', '.join(FIELDS)}" in text
    assert "verification: passed (3 lead(s) read back clean)" in text
    assert "held leads: 0" in text
    for event in document["events"]:
        assert f"{event['id']}\t{event['occurred_at']}\t{event['action']}\t" in text
        assert event["hash"] in text
    head = document["audit_head"]
    assert f"audit head {head['event_id']}:{head['hash']}" in text
    assert result.stderr == ""
    _assert_no_clear_identifier(result)


# --- holds -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "held"),
    [
        (["--lead-id", "lead-000002"], ["lead-000002"]),
        (["--email", EMAIL], SEEKER_LEADS),
    ],
    ids=["hold on one lead", "hold on the seeker"],
)
def test_a_request_deferred_by_a_hold_shows_the_hold_until_it_is_released_and_done(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path,
    target: list[str], held: list[str],
) -> None:  # fmt: skip
    _import_seeker(environ, tmp_path)
    placed = run(["hold", "place", *target, "--reason", "case 2026-114", "--json"], environ)
    hold_id = json_out(placed)["hold_id"]
    request_id = _queue(environ)
    _run_erasure(environ)

    deferred, first = _show(environ, request_id)

    assert deferred["request"]["status"] == "deferred"
    assert deferred["request"]["completed_at"] is None
    assert deferred["request"]["on_time"] is None
    assert sorted(deferred["lead_ids"]) == sorted(set(SEEKER_LEADS) - set(held))
    assert sorted(deferred["held_lead_ids"]) == held
    assert deferred["verification"]["result"] == "incomplete"
    (deferral,) = deferred["deferrals"]
    assert (deferral["held"], deferral["leads_erased"]) == (len(held), 3 - len(held))
    (hold,) = deferred["holds"]
    assert (hold["id"], hold["reason"], hold["active"], hold["released_at"]) == (
        hold_id, "case 2026-114", True, None,
    )  # fmt: skip
    assert hold["lead_id"] == (held[0] if target[0] == "--lead-id" else None)
    assert hold["subject_kind"] == (None if target[0] == "--lead-id" else "email")
    assert sorted(hold["lead_ids"]) == held
    assert _shown_events(deferred) == _request_events(engine, request_id)
    assert [e["lead_id"] for e in deferred["events"] if e["action"] == "lead.hold_skipped"] == held
    text = run(["requests", "show", str(request_id)], environ).stdout
    assert f"hold {hold_id} on " in text and "reason: case 2026-114" in text
    assert f"held leads: {len(held)} ({', '.join(held)})" in text

    assert run(["hold", "release", str(hold_id)], environ).exit_code == 0
    _run_erasure(environ)
    completed, second = _show(environ, request_id)

    assert completed["request"]["status"] == "completed"
    assert completed["request"]["on_time"] is True
    assert sorted(completed["lead_ids"]) == SEEKER_LEADS
    assert completed["leads_erased"] == 3
    assert completed["verification"] == {"result": "passed", "leads_verified": 3, "failures": []}
    assert sorted(completed["held_lead_ids"]) == held  # history: they were held
    (hold,) = completed["holds"]
    assert (hold["id"], hold["active"]) == (hold_id, False)
    assert hold["released_at"] == "2026-01-15T12:00:00+00:00"
    assert _shown_events(completed) == _request_events(engine, request_id)
    assert completed["events"][-1]["action"] == "request.completed"
    assert completed["audit_head"] == _head(engine)
    _assert_no_clear_identifier(first, second)


def test_a_hold_on_another_identifier_of_the_seeker_is_found_through_the_held_lead(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _import_seeker(environ, tmp_path)
    placed = run(["hold", "place", "--phone", "+33600000002", "--reason", "police", "--json"],
                 environ)  # fmt: skip
    request_id = _queue(environ)  # by email: the hold is on lead-000002's phone number
    _run_erasure(environ)
    document, result = _show(environ, request_id)
    assert document["held_lead_ids"] == ["lead-000002"]
    (hold,) = document["holds"]
    assert (hold["id"], hold["subject_kind"], hold["lead_id"]) == (
        json_out(placed)["hold_id"], "phone", None,
    )  # fmt: skip
    assert (hold["reason"], hold["active"], hold["lead_ids"]) == ("police", True, ["lead-000002"])
    _assert_no_clear_identifier(result)


def test_a_hold_on_a_lead_of_another_request_is_not_shown(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _import_seeker(environ, tmp_path)
    run(["hold", "place", "--lead-id", "lead-000004", "--reason", "other case"], environ)
    request_id = _queue(environ)
    _run_erasure(environ)
    document, _ = _show(environ, request_id)
    assert (document["held_lead_ids"], document["holds"]) == ([], [])
    assert document["request"]["status"] == "completed"


# --- open and failed requests ------------------------------------------------------------


@pytest.mark.parametrize(
    "subject", [["--email", EMAIL], ["--lead-id", "lead-000002"]], ids=["email", "lead id"]
)
def test_an_open_request_shows_no_clear_identifier(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path,
    subject: list[str],
) -> None:  # fmt: skip
    _import_seeker(environ, tmp_path)
    queued = run(["requests", "add", *subject, "--received-at", "2025-11-01", "--json"], environ)
    request_id = json_out(queued)["request_id"]

    document, as_json = _show(environ, request_id)
    as_text = run(["requests", "show", str(request_id)], environ)

    request = document["request"]
    assert request["status"] == "pending"
    assert (request["overdue"], request["on_time"]) == (True, None)  # due 2025-12-01
    assert "subject" not in request and "value" not in request
    (row,) = _requests(engine)
    if row.subject is not None:  # a lead id, kept in clear while the request is open
        assert row.subject not in json.dumps(request)
        assert row.subject not in as_text.stdout
    assert (document["leads_erased"], document["lead_ids"], document["fields"]) == (0, [], [])
    assert document["verification"] == {"result": "incomplete", "leads_verified": 0,
                                        "failures": []}  # fmt: skip
    assert [e["action"] for e in document["events"]] == ["request.received"]
    assert f"erasure request {request_id}: pending OVERDUE" in as_text.stdout
    assert "not completed" in as_text.stdout
    _assert_no_clear_identifier(as_json, as_text)


def test_a_failed_verification_is_shown_with_the_leads_that_kept_a_value(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _import_seeker(environ, tmp_path)
    request_id = _queue(environ)
    _install_restoring_trigger(engine)
    try:
        assert run(["run", "erasure"], environ).exit_code == 1
    finally:
        _drop_restoring_trigger(engine)

    document, result = _show(environ, request_id)

    assert document["request"]["status"] == "failed"
    assert "lead-000001" in document["request"]["error"]
    assert (document["leads_erased"], document["lead_ids"]) == (0, [])  # rolled back whole
    verification = document["verification"]
    assert verification["result"] == "failed"
    (failure,) = verification["failures"]
    assert failure["leads"] == 1
    failed_events = [e for e in document["events"] if e["action"] == "request.failed"]
    assert [e["id"] for e in failed_events] == [failure["event_id"]]
    text = run(["requests", "show", str(request_id)], environ).stdout
    assert "verification: failed" in text and "1 lead(s) kept a value" in text
    _assert_no_clear_identifier(result)

    _run_erasure(environ)  # retried at the next run, the trigger gone: done
    document, _ = _show(environ, request_id)
    assert document["verification"]["result"] == "passed"
    assert [f["event_id"] for f in document["verification"]["failures"]] == [failure["event_id"]]
    assert sorted(document["lead_ids"]) == SEEKER_LEADS


# --- bad ids -----------------------------------------------------------------------------


def test_an_unknown_request_is_exit_2_naming_it(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    result = run(["requests", "show", "42"], environ)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == ["error: request 42: no such request"]

    as_json = run(["requests", "show", "42", "--json"], environ)
    assert as_json.exit_code == 2
    document = json_out(as_json)
    assert (document["error"], document["exit_code"]) == ("request 42: no such request", 2)
    assert document["request"] is None and document["events"] is None


def test_a_non_numeric_id_is_a_usage_error(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    result = run(["requests", "show", "abc"], environ)
    assert result.exit_code == 2
    assert "'abc' is not a valid integer" in result.stderr

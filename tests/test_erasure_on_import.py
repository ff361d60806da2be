"""Erasure on import: a later lead of an erased subject is stored erased (suppression), a lead
erased upstream erases our copy, a held lead keeps its copy until its hold is released or
expires. Both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from retention.config import Settings
from retention.services.audit import verify_audit_chain
from tests.cli_helpers import json_out, run
from tests.erasure_helpers import _erase, _lead_row, _requests, _values_of
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

# --- suppression -------------------------------------------------------------------------


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


# --- erased upstream ---------------------------------------------------------------------


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


# --- held leads at import ----------------------------------------------------------------


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

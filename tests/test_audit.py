"""The audit chain: verification, tampering, truncation, anchors, concurrent writers."""

from __future__ import annotations

from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, delete, func, select, update

from retention.config import Settings
from retention.domain.audit_chain import EventDraft, canonical_details, event_hash
from retention.errors import InputError
from retention.services.audit import (
    LAST_FULL_WALK,
    parse_anchor,
    verify_audit_chain,
    verify_audit_chain_since_last,
)
from retention.services.purge import purge_due_leads
from retention.storage.audit import ChainHead, append_events
from retention.storage.meta import get_meta
from retention.storage.schema import audit_events, audit_head
from tests.cli_helpers import json_out, run
from tests.conftest import audit_tampering
from tests.factories import NOW, audit_rows, due_lead, run_concurrently, seed


def _events(engine: Engine, count: int) -> ChainHead:
    with engine.begin() as conn:
        return append_events(
            conn,
            [
                EventDraft(NOW, "run.started", canonical_details({"n": n}), run_id=n)
                for n in range(count)
            ],
        )


def test_a_purge_leaves_a_valid_chain(settings: Settings, engine: Engine) -> None:
    seed(settings, engine, [due_lead(n) for n in range(1, 6)])
    purge_due_leads(settings, engine, now=NOW, run_id=None, batch_size=2)
    report = verify_audit_chain(engine)
    assert report.ok and report.events == 5
    assert report.head.event_id == audit_rows(engine)[-1].id


def test_an_altered_event_is_named(engine: Engine) -> None:
    _events(engine, 5)
    third = audit_rows(engine)[2].id
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(
            update(audit_events).where(audit_events.c.id == third).values(details='{"n":99}')
        )
    report = verify_audit_chain(engine)
    assert (report.ok, report.first_bad_event, report.events) == (False, third, 2)
    assert "altered" in (report.problem or "")


def test_a_removed_event_in_the_middle_is_named(engine: Engine) -> None:
    _events(engine, 5)
    ids = [row.id for row in audit_rows(engine)]
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(delete(audit_events).where(audit_events.c.id == ids[1]))
    report = verify_audit_chain(engine)
    assert (report.ok, report.first_bad_event) == (False, ids[2])


def test_truncation_is_caught_by_the_recorded_head(engine: Engine) -> None:
    _events(engine, 5)
    ids = [row.id for row in audit_rows(engine)]
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(delete(audit_events).where(audit_events.c.id >= ids[3]))
    report = verify_audit_chain(engine)
    assert not report.ok and report.first_bad_event == ids[4]
    assert "removed from the end" in (report.problem or "")


def _rewrite_head_to_last_event(engine: Engine) -> None:
    with engine.begin() as conn:
        last_id = conn.scalar(select(func.max(audit_events.c.id)))
        last_hash = conn.scalar(select(audit_events.c.hash).where(audit_events.c.id == last_id))
        conn.execute(update(audit_head).values(event_id=last_id, hash=last_hash))


def test_truncation_with_a_rewritten_head_is_caught_by_the_anchor(engine: Engine) -> None:
    head = _events(engine, 5)
    anchor = (head.event_id or 0, head.hash)
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(delete(audit_events).where(audit_events.c.id >= (head.event_id or 0) - 1))
    _rewrite_head_to_last_event(engine)
    assert verify_audit_chain(engine).ok  # consistent on its own...
    report = verify_audit_chain(
        engine, anchors=dict([anchor])
    )  # ...but not with what was published
    assert (report.ok, report.first_bad_event) == (False, head.event_id)
    assert "truncated" in (report.problem or "")


def test_a_chain_rewritten_whole_is_caught_by_the_anchor(engine: Engine) -> None:
    head = _events(engine, 3)
    anchor = (head.event_id or 0, head.hash)
    rows = audit_rows(engine)
    # Change the first event, then recompute every hash after it.
    with engine.begin() as conn, audit_tampering(conn):
        # prev_hash is unique: park every row on a distinct value while rewriting them.
        parked = func.substr(audit_events.c.hash, 1, 63) + "!"
        conn.execute(update(audit_events).values(prev_hash=parked))
        prev = "0" * 64
        for index, row in enumerate(rows):
            details = '{"n":7}' if index == 0 else row.details
            draft = EventDraft(row.occurred_at, row.action, details, run_id=row.run_id)
            digest = event_hash(prev, draft)
            conn.execute(
                update(audit_events)
                .where(audit_events.c.id == row.id)
                .values(details=draft.details, prev_hash=prev, hash=digest)
            )
            prev = digest
    _rewrite_head_to_last_event(engine)
    assert verify_audit_chain(engine).ok
    report = verify_audit_chain(engine, anchors=dict([anchor]))
    assert (report.ok, report.first_bad_event) == (False, head.event_id)
    assert "rewritten" in (report.problem or "")


def test_concurrent_writers_append_one_chain(engine: Engine) -> None:
    def writer() -> None:
        for _ in range(10):
            _events(engine, 20)

    run_concurrently(writer, 3)
    report = verify_audit_chain(engine)
    assert report.ok and report.events == 600


def test_cli_verify_exit_codes_and_json(environ: dict[str, str], engine: Engine) -> None:
    head = _events(engine, 3)
    ok = run(["audit", "verify", "--json", "--anchor", str(head)], environ)
    assert ok.exit_code == 0
    assert json_out(ok) == {
        "ok": True, "events": 3, "first_bad_event": None, "problem": None, "anchors": 1,
        "head": {"event_id": head.event_id, "hash": head.hash}, "error": None, "exit_code": 0,
    }  # fmt: skip
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(update(audit_events).values(action="lead.erased"))
    broken = run(["audit", "verify"], environ)
    assert broken.exit_code == 1
    assert broken.stdout.startswith("audit chain BROKEN at event")


@pytest.mark.parametrize("text", ["12", "x:" + "a" * 64, "3:" + "z" * 64, "3:abc"])
def test_bad_anchors_are_input_errors(text: str) -> None:
    with pytest.raises(InputError, match="--anchor"):
        parse_anchor(text)


@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_trail_refuses_updates_and_deletes(engine: Engine, change: str) -> None:
    from sqlalchemy.exc import DBAPIError

    _events(engine, 2)
    statement = (
        update(audit_events).values(details="{}") if change == "update" else delete(audit_events)
    )
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(statement)
    assert verify_audit_chain(engine).ok and len(audit_rows(engine)) == 2


def test_a_report_column_that_disagrees_with_its_details_is_named(
    settings: Settings, engine: Engine
) -> None:
    seed(settings, engine, [due_lead(n) for n in range(1, 4)])
    purge_due_leads(settings, engine, now=NOW, run_id=None, batch_size=10)
    second = audit_rows(engine, "lead.purged")[1].id
    with engine.begin() as conn, audit_tampering(conn):  # the hash covers only the details
        conn.execute(update(audit_events).where(audit_events.c.id == second).values(rule="ceiling"))
    report = verify_audit_chain(engine)
    assert (report.ok, report.first_bad_event) == (False, second)
    assert "report columns" in (report.problem or "")


def test_several_anchors_and_the_anchor_file_are_all_held(
    environ: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    first, second = _events(engine, 2), _events(engine, 2)
    anchors = tmp_path / "anchors.txt"
    anchors.write_text(
        f"2026-01-15T12:00:00Z purge 1 {first}\n\n2026-01-15T12:01:00Z erase - {second}\n"
    )
    both = run(["audit", "verify", "--anchor", str(first), "--anchor", str(second)], environ)
    assert both.exit_code == 0 and "2 anchors held" in both.stdout
    assert run(["audit", "verify", "--anchors", str(anchors)], environ).exit_code == 0
    forged = f"{first.event_id}:{'ab' * 32}"
    wrong = run(
        ["audit", "verify", "--json", "--anchors", str(anchors), "--anchor", forged], environ
    )
    assert (wrong.exit_code, json_out(wrong)["error"]) == (
        2,
        f"--anchor: event {first.event_id} is given two different hashes",
    )
    anchors.write_text(anchors.read_text() + f"2026-01-15T12:02:00Z purge 2 {forged}\n")
    tampered = run(["audit", "verify", "--anchors", str(anchors)], environ)
    assert tampered.exit_code == 2
    assert f"line 4: event {first.event_id} is anchored with two different hashes" in (
        tampered.stderr
    )
    future = run(["audit", "verify", "--anchor", f"99:{'cd' * 32}"], environ)
    assert future.exit_code == 1 and "anchored event 99 is missing" in future.stdout


def test_the_quick_check_walks_on_from_the_last_full_walk(
    engine: Engine, environ: dict[str, str]
) -> None:
    _events(engine, 3)
    report, walk = verify_audit_chain_since_last(engine)
    assert (report.ok, report.events, walk) == (True, 3, None)  # no full walk yet: all of it
    with freeze_time("2026-01-15T12:00:00Z"):
        assert run(["audit", "verify"], environ).exit_code == 0  # a full walk, remembered
    third = audit_rows(engine)[2].hash
    with engine.connect() as conn:
        assert get_meta(conn, LAST_FULL_WALK) == f"3:{third} 2026-01-15T12:00:00Z"
    head = _events(engine, 2)
    report, walk = verify_audit_chain_since_last(engine, anchors={head.event_id or 0: head.hash})
    assert (report.ok, report.events, report.head) == (True, 5, head)
    assert walk is not None and walk.through == ChainHead(3, third)
    # An event before the full walk's head altered: the quick check does not walk there, an
    # anchor published before it (whose hash a rewrite would have to change) does.
    published = {2: audit_rows(engine)[1].hash}
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(update(audit_events).where(audit_events.c.id == 2).values(hash="f" * 64))
    assert verify_audit_chain_since_last(engine)[0].ok is True
    caught, walk = verify_audit_chain_since_last(engine, anchors=published)
    assert (caught.ok, caught.first_bad_event, walk) == (False, 2, None)
    # The full walk's own event rewritten: the check starts again from the genesis.
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(update(audit_events).where(audit_events.c.id == 3).values(hash="e" * 64))
    report, walk = verify_audit_chain_since_last(engine)
    assert (report.ok, report.first_bad_event, walk) == (False, 2, None)

"""The audit journal (audit.journal_file): every event and entry, synced at the end of every
run and command, fsynced, caught up after a crash, and the guard it gives after a restore
(both databases)."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select

from jobs.purge import purge_job
from retention.config import Settings
from retention.domain.audit_chain import GENESIS_HASH, seal
from retention.domain.events import LeadPurged, RunStarted
from retention.domain.journal_entries import (
    HoldEntry,
    JournalEvent,
    JournalLineError,
    RequestEntry,
    entry_problem,
    event_line,
    hold_line,
    parse_line,
    request_line,
)
from retention.services import journal_file
from retention.services.holds import place_hold
from retention.services.journal import sync_journal
from retention.services.journal_file import read_tail
from retention.storage.audit import append_events
from retention.storage.engine import READ_ONLY
from retention.storage.schema import erasure_requests, legal_holds
from tests.cli_helpers import json_out, run
from tests.factories import (
    FROZEN_NOW_TEXT,
    NOW,
    due_lead,
    fresh_lead,
    lead_ids,
    run_concurrently,
    seed,
    write_jsonl,
)
from tests.journal_helpers import (
    do_everything,
    forget_events_after,
    hold_entries,
    journal_events,
    journaled,
    leave_no_dead_rows,
    request_entries,
    stored_events,
)

SEEKER_VALUES = ["seeker.3@example.com", "600000003", "Prenom3", "Nomfictif3",
                 "seeker.4@example.com", "seeker.6@example.com"]  # fmt: skip


@pytest.fixture(autouse=True)
def _frozen(request: pytest.FixtureRequest) -> Iterator[None]:
    if "engine" in request.fixturenames:  # opened first: the driver loads under the real clock
        request.getfixturevalue("engine")
    with freeze_time(FROZEN_NOW_TEXT):
        yield
    url = request.getfixturevalue("database_url") if "engine" in request.fixturenames else ""
    if url.startswith("postgresql"):
        leave_no_dead_rows(url)


def _store(settings: Settings, engine: Engine) -> None:
    seed(settings, engine, [due_lead(1), due_lead(2), *(fresh_lead(n) for n in range(3, 8))])


def _journal_settings(settings: Settings, path: Path) -> Settings:
    return dataclasses.replace(
        settings, audit=dataclasses.replace(settings.audit, journal_file=path)
    )


# --- what it holds ------------------------------------------------------------------------


def test_the_journal_holds_every_event_as_the_table_does_and_the_entries(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _store(settings, engine)
    journal = journaled(environ, tmp_path)
    ids = do_everything(journal, tmp_path)
    # Every event, with the table's ids, content, hashes and report columns, in id order.
    assert journal_events(journal.journal) == stored_events(engine)
    # The suppression entries: each request's kind and keyed hash, as the table has them.
    with engine.connect().execution_options(**READ_ONLY) as conn:
        requests = {row.id: row for row in conn.execute(select(erasure_requests))}
        holds = {row.id: row for row in conn.execute(select(legal_holds))}
    entries = {entry.request_id: entry for entry in request_entries(journal.journal)}
    assert set(entries) == set(requests)
    for request_id, entry in entries.items():
        row = requests[request_id]
        assert (entry.kind, entry.subject_hash, entry.received_at, entry.due_at, entry.source) == (
            row.kind, row.subject_hash, row.received_at, row.due_at, row.source,
        )  # fmt: skip
    assert entries[ids["erase"]].kind == "email"
    # Each hold twice for a release: as placed, then as released.
    placed_released = [(e.hold_id, e.released_at) for e in hold_entries(journal.journal)]
    assert placed_released == [
        (ids["subject_hold"], None),
        (ids["subject_hold"], holds[ids["subject_hold"]].released_at),
        (ids["lead_hold"], None),
    ]
    subject_hold = hold_entries(journal.journal)[0]
    assert subject_hold.subject_hash == holds[ids["subject_hold"]].subject_hash
    assert subject_hold.reason == "dispute 4"
    # Never a clear identifier, a name or a message, never a reference text.
    text = journal.journal.read_text()
    for value in SEEKER_VALUES:
        assert value not in text
    assert "Message fictif" not in text
    # The journal is private to its owner, like the store's files.
    assert journal.journal.stat().st_mode & 0o777 == 0o600


def test_a_command_that_appends_nothing_writes_nothing(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    journal = journaled(environ, tmp_path)
    assert run(["purge"], journal.env).exit_code == 0
    size = journal.journal.stat().st_size
    for command in (["status"], ["audit", "verify"], ["requests", "list"], ["hold", "list"],
                    ["purge", "--dry-run"], ["erase", "--email", "a@example.com", "--dry-run"],
                    ["run", "purge"]):  # fmt: skip
        assert run(command, journal.env).exit_code == 0, command
    assert journal.journal.stat().st_size == size


def test_a_run_that_died_before_its_sync_is_caught_up_by_the_next(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _store(settings, engine)
    journal = journaled(environ, tmp_path)
    assert (
        run(["hold", "place", "--lead-id", "lead-000003", "--reason", "r"], journal.env).exit_code
        == 0
    )
    synced = len(journal_events(journal.journal))
    # A run and a command that committed their events but never synced (killed after the
    # commit): the store has events the journal lacks.
    purge_job(settings, engine)
    place_hold(settings, engine, reason="r", now=NOW, lead_id="lead-000004")
    assert len(stored_events(engine)) > synced
    assert len(journal_events(journal.journal)) == synced
    # The next command's sync writes them all, in order, once.
    assert (
        run(["hold", "place", "--lead-id", "lead-000005", "--reason", "r"], journal.env).exit_code
        == 0
    )
    assert journal_events(journal.journal) == stored_events(engine)


def test_a_write_cut_short_is_cut_off_and_written_again(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _store(settings, engine)
    journal = journaled(environ, tmp_path)
    assert run(["purge"], journal.env).exit_code == 0
    complete = journal.journal.read_bytes()
    last = stored_events(engine)[-1]
    # A crash in the middle of a line: the last event half written, no newline.
    forget = complete[: complete.rindex(b"\n", 0, len(complete) - 1) + 1]
    journal.journal.write_bytes(forget + complete[len(forget) : len(forget) + 40])
    assert read_tail(journal.journal) == journal_file.JournalTail(
        last.id - 1, stored_events(engine)[-2].hash
    )
    assert (
        run(["hold", "place", "--lead-id", "lead-000003", "--reason", "r"], journal.env).exit_code
        == 0
    )
    assert journal_events(journal.journal) == stored_events(engine)


def test_two_syncs_at_once_write_each_event_once(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    _store(settings, engine)
    purge_job(settings, engine)
    with_journal = _journal_settings(settings, tmp_path / "journal.jsonl")
    start = threading.Barrier(2)

    def sync() -> int:
        start.wait()
        synced = sync_journal(with_journal, engine)
        assert synced is not None and synced.error is None
        return synced.written

    assert sorted(run_concurrently(sync, 2)) == [0, len(stored_events(engine))]
    assert journal_events(tmp_path / "journal.jsonl") == stored_events(engine)


def test_the_journal_is_fsynced_with_its_folder_when_created(
    settings: Settings, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _store(settings, engine)
    purge_job(settings, engine)
    synced: list[int] = []
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    with_journal = _journal_settings(settings, tmp_path / "journal.jsonl")
    assert sync_journal(with_journal, engine) is not None
    assert len(synced) == 2  # the file, and the folder that now lists it
    synced.clear()
    place_hold(settings, engine, reason="r", now=NOW, lead_id="lead-000003")
    sync_journal(with_journal, engine)
    assert len(synced) == 1  # the file


def test_a_journal_that_cannot_be_written_fails_the_command_after_its_work(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(f'[audit]\njournal_file = "{tmp_path / "missing-folder" / "j.jsonl"}"\n')
    seed(settings, engine, [due_lead(1)])
    env = {**environ, "RETENTION_CONFIG": str(config)}
    result = run(["purge", "--json"], env)
    assert result.exit_code == 1
    out = json_out(result)
    assert (out["status"], out["deleted"], out["exit_code"]) == ("succeeded", 1, 1)
    assert "could not write the audit journal" in out["error"]
    assert lead_ids(engine) == set()  # the work is done
    held = run(["hold", "place", "--lead-id", "x", "--reason", "r"], env)
    assert held.exit_code == 1 and "could not write the audit journal" in held.stderr


def test_the_tail_is_read_from_the_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "journal.jsonl"
    drafts = [
        LeadPurged("AGENCY", "SLG-FRA", "ttl").draft(NOW, lead_id=f"L{i}") for i in range(5000)
    ]
    sealed = list(seal(GENESIS_HASH, drafts))
    path.write_text("".join(event_line(i, s.draft, s.prev_hash, s.hash) + "\n"
                            for i, s in enumerate(sealed, 1)))  # fmt: skip
    assert path.stat().st_size > 1_000_000
    read: list[int] = []
    real_pread = os.pread

    def counting(fd: int, size: int, offset: int) -> bytes:
        read.append(size)
        return real_pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", counting)
    assert read_tail(path) == journal_file.JournalTail(5000, sealed[-1].hash)
    assert sum(read) <= 64 * 1024


# --- the guard ----------------------------------------------------------------------------


WRITERS = [
    ["purge"],
    ["purge", "--dry-run"],
    ["run", "purge"],
    ["run", "erasure"],
    ["erase", "--email", "seeker.3@example.com"],
    ["requests", "add", "--email", "seeker.3@example.com"],
    ["hold", "place", "--lead-id", "lead-000003", "--reason", "r"],
    ["hold", "release", "1"],
    ["import", "LEADS"],
]


def test_every_writer_refuses_a_store_behind_its_journal_and_readers_still_work(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _store(settings, engine)
    journal = journaled(environ, tmp_path)
    do_everything(journal, tmp_path)
    forget_events_after(engine, 5)  # the database lost what came after event 5
    leads = write_jsonl(tmp_path / "leads.jsonl", [fresh_lead(40)])
    for command in WRITERS:
        command = [str(leads) if part == "LEADS" else part for part in command]
        result = run([*command, "--json"], journal.env)
        assert result.exit_code == 1, (command, result.output)
        assert "the database looks restored from a backup" in result.stderr, command
        assert "ends at event 5" in result.stderr
        assert f"run `retention replay --journal {journal.journal}` first" in result.stderr
    assert len(stored_events(engine)) == 5, "nothing was written"
    for command in (["status"], ["requests", "list"], ["hold", "list"], ["audit", "verify"]):
        assert run(command, journal.env).exit_code == 0, command


def test_a_journal_of_another_store_is_refused_and_left_alone(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    journal = journaled(environ, tmp_path)
    other = list(seal(GENESIS_HASH, [RunStarted("purge").draft(NOW - timedelta(days=1), run_id=1)]))
    journal.journal.write_text(
        "".join(event_line(1, s.draft, s.prev_hash, s.hash) + "\n" for s in other)
    )
    before = journal.journal.read_bytes()
    with engine.begin() as conn:
        append_events(conn, [RunStarted("erasure").draft(NOW, run_id=9)])
        append_events(conn, [RunStarted("erasure").draft(NOW, run_id=10)])
    result = run(["hold", "place", "--lead-id", "x", "--reason", "r"], journal.env)
    assert result.exit_code == 1
    assert "does not continue this store's audit chain" in result.stderr
    # A sync run anyway writes nothing and says so.
    synced = sync_journal(_journal_settings(settings, journal.journal), engine)
    assert synced is not None and synced.written == 0
    assert synced.error is not None and "does not continue" in synced.error
    assert journal.journal.read_bytes() == before


def test_without_a_journal_nothing_is_checked_or_written(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _store(settings, engine)
    assert run(["purge"], environ).exit_code == 0
    assert sync_journal(settings, engine) is None
    assert list(tmp_path.glob("*.jsonl")) == []


# --- the line format ----------------------------------------------------------------------


def test_every_kind_of_line_reads_back_as_written() -> None:
    (sealed,) = seal(GENESIS_HASH, [LeadPurged("AGENCY", "SLG-FRA", "ceiling").draft(
        NOW, lead_id="L1", run_id=3)])  # fmt: skip
    event = JournalEvent(1, sealed.draft, sealed.prev_hash, sealed.hash)
    request = RequestEntry(2, 7, "phone", b"\x01" * 32, NOW, NOW + timedelta(days=31), "file")
    hold = HoldEntry(3, 4, None, "email", b"\x02" * 32, "caso n\u00ba 5", NOW, None, NOW)
    assert parse_line(event_line(1, sealed.draft, sealed.prev_hash, sealed.hash)) == event
    assert parse_line(request_line(request)) == request
    assert parse_line(hold_line(hold)) == hold
    assert hold_line(hold).isascii()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "is not JSON"),
        ("[1]", "is not a JSON object"),
        ('{"type": "lead"}', "has no known type"),
        ('{"type": "request", "event": 1}', "is not a request line: it misses"),
    ],
)
def test_a_line_that_is_not_a_journal_line_says_why(line: str, problem: str) -> None:
    with pytest.raises(JournalLineError, match=problem):
        parse_line(line)


def test_an_event_line_keeps_the_chains_time_form_only() -> None:
    (sealed,) = seal(GENESIS_HASH, [RunStarted("purge").draft(NOW, run_id=1)])
    line = event_line(1, sealed.draft, sealed.prev_hash, sealed.hash)
    assert '"occurred_at":"2026-01-15T12:00:00Z"' in line
    with pytest.raises(JournalLineError, match="occurred_at"):
        parse_line(line.replace("12:00:00Z", "12:00:00.5Z"))
    with pytest.raises(JournalLineError, match="hash"):
        parse_line(line.replace(sealed.hash, sealed.hash.upper()))


def test_an_entry_must_agree_with_its_event() -> None:
    from retention.domain.events import RequestReceived

    draft = RequestReceived("email", "cli", NOW + timedelta(days=31)).draft(NOW, request_id=7)
    (sealed,) = seal(GENESIS_HASH, [draft])
    event = JournalEvent(1, sealed.draft, sealed.prev_hash, sealed.hash)
    entry = RequestEntry(1, 7, "email", b"\x01" * 32, NOW, NOW + timedelta(days=31), "cli")
    assert entry_problem(event, entry) is None
    assert "disagrees" in str(entry_problem(event, dataclasses.replace(entry, kind="phone")))
    assert "does not receive" in str(entry_problem(event, dataclasses.replace(entry, request_id=8)))
    assert "names event 2" in str(entry_problem(event, dataclasses.replace(entry, event_id=2)))


def test_the_tail_of_a_journal_without_events_is_none(tmp_path: Path) -> None:
    assert read_tail(tmp_path / "missing.jsonl") is None
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert read_tail(tmp_path / "empty.jsonl") is None
    (tmp_path / "torn.jsonl").write_bytes(b'{"type":"ev')
    assert read_tail(tmp_path / "torn.jsonl") is None


def test_an_event_is_found_by_bisection(tmp_path: Path) -> None:
    from retention.domain.events import RequestReceived

    path = tmp_path / "journal.jsonl"
    drafts = [
        RequestReceived("email", "cli", NOW).draft(NOW, request_id=i)
        if i % 3 == 0
        else LeadPurged("AGENCY", "SLG-FRA", "ttl").draft(NOW, lead_id=f"L{i}")
        for i in range(1, 301)
    ]
    lines: list[str] = []
    offsets: dict[int, int] = {}
    size = 0
    for i, s in enumerate(seal(GENESIS_HASH, drafts), 1):
        offsets[i] = size
        written = [event_line(i, s.draft, s.prev_hash, s.hash)]
        if i % 3 == 0:  # an entry line after it
            written.append(request_line(RequestEntry(i, i, "email", b"\x01" * 32, NOW, NOW, "cli")))
        for line in written:
            lines.append(line)
            size += len(line) + 1
    path.write_text("".join(line + "\n" for line in lines) + '{"type":"ev')  # a torn last line
    for event_id in (1, 2, 3, 4, 150, 299, 300):
        assert journal_file.find_event(path, event_id) == offsets[event_id]
    assert journal_file.find_event(path, 301) == path.stat().st_size
    assert journal_file.line_number(path, offsets[4]) == 5  # events 1-3 and the entry of 3

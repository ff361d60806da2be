"""`retention replay` after a restore from a backup (both databases): the store is backed up
(SQLite's backup API; PostgreSQL's pg_dump of the test schema), changed through the CLI with
the audit journal on, restored, and replayed from the journal."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url

from retention.config import Settings
from retention.domain.audit_chain import GENESIS_HASH, seal
from retention.domain.events import RunStarted
from retention.domain.journal_entries import event_line
from retention.services import replay as replay_service
from retention.services.replay import replay_journal
from retention.storage.audit import insert_sealed_events
from retention.storage.engine import READ_ONLY, sqlite_path
from retention.storage.schema import erasure_requests, job_runs, legal_holds
from tests.cli_helpers import json_out, run
from tests.conftest import TEST_SCHEMA
from tests.factories import (
    FROZEN_NOW_TEXT,
    NOW,
    due_lead,
    dump_text,
    fresh_lead,
    lead_ids,
    seed,
    snapshot,
)
from tests.journal_helpers import (
    Journaled,
    do_everything,
    journal_events,
    journaled,
    latest_anchor,
    leave_no_dead_rows,
    stored_events,
    suppressed_lead_file,
)

COUNTS = ("events_restored", "purged", "erased", "suppressions", "holds", "requests_to_retake")
SEEKER_3 = ["seeker.3@example.com", "Prenom3", "Nomfictif3", "Message fictif numero 3",
            "600000003"]  # fmt: skip


class Backup:
    """A copy of the whole store, and putting it back as a restore from a backup does."""

    def __init__(self, url: str, engine: Engine, folder: Path) -> None:
        self.url, self.engine, self.folder = url, engine, folder

    def take(self) -> None:
        if self.engine.dialect.name == "sqlite":
            self._sqlite_copy(self._sqlite_file(), self.folder / "backup.db")
        else:
            self._psql("pg_dump", "--schema", TEST_SCHEMA, "--no-owner", "--file",
                       str(self.folder / "backup.sql"))  # fmt: skip

    def restore(self) -> None:
        self.engine.dispose()
        if self.engine.dialect.name == "sqlite":
            self._sqlite_copy(self.folder / "backup.db", self._sqlite_file())
        else:
            self._psql("psql", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                       f"DROP SCHEMA {TEST_SCHEMA} CASCADE")  # fmt: skip
            self._psql("psql", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(self.folder / "backup.sql"))

    def _sqlite_file(self) -> Path:
        path = sqlite_path(self.url)
        assert path is not None
        return path

    @staticmethod
    def _sqlite_copy(source: Path, target: Path) -> None:
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()

    def _psql(self, program: str, *args: str) -> None:
        url = make_url(self.url)
        env = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
        where = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                 "-U", url.username or "postgres"]  # fmt: skip
        found = shutil.which(program)
        assert found is not None, f"{program} is needed for the PostgreSQL restore test"
        subprocess.run([found, *where, *args, url.database or ""], env=env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip


@pytest.fixture
def backup(database_url: str, engine: Engine, tmp_path: Path) -> Backup:
    return Backup(database_url, engine, tmp_path)


@pytest.fixture(autouse=True)
def _frozen(request: pytest.FixtureRequest) -> Iterator[None]:
    if "engine" in request.fixturenames:  # opened first: the driver loads under the real clock
        request.getfixturevalue("engine")
    with freeze_time(FROZEN_NOW_TEXT):
        yield
    url = request.getfixturevalue("database_url") if "engine" in request.fixturenames else ""
    if url.startswith("postgresql"):
        leave_no_dead_rows(url)


def _replay(journal: Journaled, *options: str) -> Any:
    result = run(["replay", "--journal", str(journal.journal), *options], journal.env)
    return result


def _restored(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path, backup: Backup
) -> tuple[Journaled, dict[str, int], str, int]:
    """A store backed up after some journaled work, changed in every way, then restored: the
    journal, the ids made after the backup, the last anchor published before the restore and
    the event id the restored database ends at."""
    seed(settings, engine, [due_lead(1), due_lead(2), *(fresh_lead(n) for n in range(3, 9))])
    journal = journaled(environ, tmp_path)
    placed = run(["hold", "place", "--lead-id", "lead-000008", "--reason", "before"], journal.env)
    assert placed.exit_code == 0
    backed_up = stored_events(engine)[-1].id
    backup.take()
    ids = do_everything(journal, tmp_path)
    anchor = latest_anchor(journal.anchors)
    backup.restore()
    assert stored_events(engine)[-1].id == backed_up
    return journal, ids, anchor, backed_up


def _rows(engine: Engine, table: Any) -> dict[int, Any]:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return {row.id: row for row in conn.execute(select(table))}


def test_replay_after_a_restore_puts_back_every_purge_erasure_suppression_and_hold(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path, backup: Backup
) -> None:
    journal, ids, anchor, backed_up = _restored(settings, engine, environ, tmp_path, backup)
    journaled_events = journal_events(journal.journal)
    assert lead_ids(engine) >= {"lead-000001", "lead-000002"}, "the restore lost the purge"
    assert "seeker.3@example.com" in dump_text(engine), "... and the erasure"

    # The guard: nothing that would append events runs before replay.
    refused = run(["purge", "--json"], journal.env)
    assert refused.exit_code == 1
    assert "the database looks restored from a backup" in json_out(refused)["error"]
    assert f"retention replay --journal {journal.journal}" in refused.stderr

    # The dry run predicts and changes nothing.
    before = snapshot(engine)
    told = _replay(journal, "--dry-run")
    assert told.stdout.startswith("dry run: would restore ")
    assert f"take them again: {ids['pending_lead']}\n" in told.stdout
    dry = _replay(journal, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert snapshot(engine) == before
    assert json_out(dry)["dry_run"] is True and json_out(dry)["audit_head"] is None

    done = _replay(journal, "--json")
    assert done.exit_code == 0, done.output
    out = json_out(done)
    assert {key: json_out(dry)[key] for key in COUNTS} == {key: out[key] for key in COUNTS}
    assert out["dry_run"] is False
    assert out["events_restored"] == len(journaled_events) - backed_up
    assert (out["purged"], out["erased"]) == (2, 1)  # lead 30, erased on import, is not here
    assert out["suppressions"] == 2  # seeker 3's erasure, seeker 6's pending request
    assert out["holds"] == 3  # the subject hold and its release, the lead hold
    assert out["requests_to_retake"] == [ids["pending_lead"]]
    assert out["audit_head"] == {"event_id": journaled_events[-1].id,
                                 "hash": journaled_events[-1].hash}  # fmt: skip

    # The events are back as they were, and the anchors published before the restore hold.
    assert stored_events(engine) == journaled_events
    verified = run(["audit", "verify", "--anchor", anchor], environ)
    assert verified.exit_code == 0, verified.output
    verified = run(["audit", "verify", "--anchors", str(journal.anchors)], environ)
    assert verified.exit_code == 0, verified.output

    # What they record is re-applied.
    assert not lead_ids(engine) & {"lead-000001", "lead-000002"}
    dump = dump_text(engine)
    for value in SEEKER_3:
        assert value not in dump
    requests = _rows(engine, erasure_requests)
    assert (requests[ids["erase"]].status, requests[ids["erase"]].subject) == ("completed", None)
    assert requests[ids["pending_email"]].status == "pending"
    assert ids["pending_lead"] not in requests
    holds = _rows(engine, legal_holds)
    assert holds[ids["subject_hold"]].released_at is not None
    assert (
        holds[ids["lead_hold"]].released_at is None and holds[ids["lead_hold"]].reason == "case 5"
    )
    runs = _rows(engine, job_runs)
    (purge_run,) = [row for row in runs.values() if row.job == "purge"]
    assert (purge_run.status, purge_run.counts["deleted"]) == ("succeeded", 2)

    # Replaying again changes nothing.
    before = snapshot(engine)
    again = _replay(journal, "--json")
    assert again.exit_code == 0 and json_out(again)["events_restored"] == 0
    assert snapshot(engine) == before

    # The store works on: the suppression entry erases seeker 3's lead on arrival again, the
    # pending email request is carried out by its hash, new rows get new ids.
    later = suppressed_lead_file(tmp_path, 30, "seeker.3@example.com")
    imported = run(["import", str(later), "--json"], journal.env)
    assert json_out(imported)["erased_on_import"] == 1, imported.output
    erasure = json_out(run(["run", "erasure", "--json"], journal.env))
    assert erasure["completed"] == 1 and erasure["leads_erased"] == 1, erasure
    assert "seeker.6@example.com" not in dump_text(engine)
    added = json_out(run(["requests", "add", "--lead-id", "lead-000007", "--json"], journal.env))
    assert added["request_id"] > max(requests)
    placed = json_out(
        run(["hold", "place", "--lead-id", "x", "--reason", "r", "--json"], journal.env)
    )
    assert placed["hold_id"] > max(holds)
    assert run(["purge"], journal.env).exit_code == 0
    assert max(_rows(engine, job_runs)) > max(runs)
    assert journal_events(journal.journal) == stored_events(engine)
    assert run(["audit", "verify", "--anchors", str(journal.anchors)], environ).exit_code == 0


def test_a_replay_stopped_half_way_goes_on_from_where_it_stopped(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path, backup: Backup,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    journal, _, _, backed_up = _restored(settings, engine, environ, tmp_path, backup)
    real = insert_sealed_events
    calls: list[int] = []

    def failing_second(conn: Any, events: Any) -> Any:
        calls.append(len(events))
        if len(calls) == 2:
            raise RuntimeError("the process died")
        return real(conn, events)

    monkeypatch.setattr(replay_service, "insert_sealed_events", failing_second)  # its import
    with pytest.raises(RuntimeError):
        replay_journal(settings, engine, journal.journal, now=NOW, batch_size=3)
    # The first batch is in, whole, with its events; the second rolled back.
    assert stored_events(engine)[-1].id == backed_up + 3
    monkeypatch.setattr(replay_service, "insert_sealed_events", real)
    result = replay_journal(settings, engine, journal.journal, now=NOW, batch_size=3)
    assert result.events_restored == len(journal_events(journal.journal)) - backed_up - 3
    assert stored_events(engine) == journal_events(journal.journal)
    assert not lead_ids(engine) & {"lead-000001", "lead-000002"}
    assert "seeker.3@example.com" not in dump_text(engine)


@pytest.fixture
def restored(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path, backup: Backup
) -> tuple[Journaled, int]:
    journal, _, _, backed_up = _restored(settings, engine, environ, tmp_path, backup)
    return journal, backed_up


def _refused(journal: Journaled, engine: Engine, *, code: int = 1) -> str:
    before = snapshot(engine)
    result = _replay(journal, "--json")
    assert result.exit_code == code, result.output
    assert snapshot(engine) == before, "nothing changed"
    error: str = json_out(result)["error"]
    assert error is not None and "\n" not in error
    assert json_out(result)["events_restored"] is None
    return error


def _lines(journal: Journaled) -> list[str]:
    return journal.journal.read_text().splitlines(keepends=True)


def _line_of(restored: tuple[Journaled, int], kind: str) -> int:
    """The index of the first line with `kind` (an action, or "request") after the event the
    restored database ends at."""
    journal, backed_up = restored
    lines = _lines(journal)
    kept = next(
        i for i, line in enumerate(lines) if line.startswith(f'{{"type":"event","id":{backed_up},')
    )
    return next(i for i, line in enumerate(lines) if i > kept and f'"{kind}"' in line)


def test_an_altered_event_is_refused_naming_its_line(
    engine: Engine, restored: tuple[Journaled, int]
) -> None:
    journal = restored[0]
    lines = _lines(journal)
    index = _line_of(restored, "lead.purged")
    lines[index] = lines[index].replace('\\"rule\\":\\"ttl\\"', '\\"rule\\":\\"ttm\\"', 1)
    journal.journal.write_text("".join(lines))
    error = _refused(journal, engine)
    assert f"line {index + 1}: event " in error
    assert "content does not match its hash (it was altered)" in error
    assert error.endswith("nothing was replayed")


def test_a_removed_line_is_refused(engine: Engine, restored: tuple[Journaled, int]) -> None:
    journal = restored[0]
    lines = _lines(journal)
    del lines[_line_of(restored, "lead.erased")]
    journal.journal.write_text("".join(lines))
    assert "events are missing or out of order" in _refused(journal, engine)


def test_an_altered_entry_is_refused(engine: Engine, restored: tuple[Journaled, int]) -> None:
    journal = restored[0]
    lines = _lines(journal)
    index = _line_of(restored, "request")
    lines[index] = lines[index].replace('"source":"cli"', '"source":"file"')
    journal.journal.write_text("".join(lines))
    assert "the request entry disagrees with its event" in _refused(journal, engine)


def test_another_stores_journal_is_refused(engine: Engine, restored: tuple[Journaled, int]) -> None:
    journal = restored[0]
    drafts = [RunStarted("purge").draft(NOW, run_id=n) for n in range(1, 40)]
    journal.journal.write_text(
        "".join(event_line(i, s.draft, s.prev_hash, s.hash) + "\n"
                for i, s in enumerate(seal(GENESIS_HASH, drafts), 1))
    )  # fmt: skip
    error = _refused(journal, engine)
    assert "is not the database's event" in error
    assert "does not continue the restored database's chain" in error


def test_a_file_that_is_not_a_journal_is_exit_2(
    engine: Engine, restored: tuple[Journaled, int], tmp_path: Path
) -> None:
    journal = restored[0]
    journal.journal.write_text("kind,value\nemail,a@example.com\n")
    assert "not an audit journal (line 1 is not JSON)" in _refused(journal, engine, code=2)
    missing = run(["replay", "--journal", str(tmp_path / "none.jsonl")], journal.env)
    assert missing.exit_code == 2 and "cannot be read" in missing.stderr


def test_a_journal_behind_the_database_has_nothing_to_replay(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [due_lead(1)])
    journal = journaled(environ, tmp_path)
    assert run(["purge"], journal.env).exit_code == 0
    assert run(["purge"], environ).exit_code == 0  # not journaled
    before = snapshot(engine)
    result = _replay(journal)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("nothing to replay: the journal ends at event")
    assert snapshot(engine) == before


def test_replay_shows_its_progress_on_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    from retention.cli.replay import ReplayProgress
    from retention.services.observer import BatchStats

    ReplayProgress().batch_done(
        BatchStats(job="replay", batch=2, seconds=0.1, size=5000, rows=5000, held=0,
                   requests=0, total_rows=10000, total_held=0, total_requests=0, due=40000)
    )  # fmt: skip
    assert capsys.readouterr().err == "\rreplay: 10000 of 40000 events (25%)"


def test_a_last_line_cut_short_is_left_out(restored: tuple[Journaled, int]) -> None:
    journal, backed_up = restored
    complete = len(journal_events(journal.journal))
    with journal.journal.open("a") as handle:
        handle.write('{"type":"event","id":')
    result = _replay(journal, "--json")
    assert result.exit_code == 0, result.output
    assert json_out(result)["events_restored"] == complete - backed_up
    assert "was cut short (a write interrupted): ignored" in result.stderr

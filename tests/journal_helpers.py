"""What the audit journal tests (test_journal.py, test_replay.py) share: a config with the
journal and the anchor file, the journal read back, and a store's activity of every kind."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from retention.domain.journal_entries import (
    HoldEntry,
    JournalEvent,
    JournalLine,
    RequestEntry,
    parse_line,
)
from retention.storage.audit import iter_events
from retention.storage.engine import READ_ONLY
from tests.cli_helpers import json_out, run
from tests.conftest import audit_tampering
from tests.factories import fresh_lead, with_contact, write_jsonl


@dataclass(frozen=True, slots=True)
class Journaled:
    """A store's environment with `audit.journal_file` and `audit.anchor_file` set."""

    env: dict[str, str]
    journal: Path
    anchors: Path


def journaled(environ: dict[str, str], folder: Path) -> Journaled:
    config = folder / "journaled.toml"
    # Relative to the config file.
    config.write_text('[audit]\njournal_file = "journal.jsonl"\nanchor_file = "anchors.txt"\n')
    env = {**environ, "RETENTION_CONFIG": str(config)}
    return Journaled(env, folder / "journal.jsonl", folder / "anchors.txt")


def journal_lines(path: Path) -> list[JournalLine]:
    return [parse_line(line) for line in path.read_bytes().splitlines()]


def journal_events(path: Path) -> list[JournalEvent]:
    return [line for line in journal_lines(path) if isinstance(line, JournalEvent)]


def request_entries(path: Path) -> list[RequestEntry]:
    return [line for line in journal_lines(path) if isinstance(line, RequestEntry)]


def hold_entries(path: Path) -> list[HoldEntry]:
    return [line for line in journal_lines(path) if isinstance(line, HoldEntry)]


def stored_events(engine: Engine) -> list[JournalEvent]:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return [JournalEvent(*row) for row in iter_events(conn)]


def forget_events_after(engine: Engine, event_id: int) -> None:
    """Drop the events after `event_id` as a schema owner could (the chain then ends there):
    a database that lost them."""
    with engine.begin() as conn, audit_tampering(conn):
        conn.execute(text("DELETE FROM audit_events WHERE id > :id"), {"id": event_id})
        digest = conn.scalar(text("SELECT hash FROM audit_events WHERE id = :id"), {"id": event_id})
        conn.execute(
            text("UPDATE audit_head SET event_id = :id, hash = :hash"),
            {"id": event_id, "hash": digest},
        )


def latest_anchor(anchors: Path) -> str:
    return anchors.read_text().splitlines()[-1].split(" ")[-1]


def suppressed_lead_file(folder: Path, n: int, email: str) -> Path:
    """A new lead (number `n`) of the seeker with `email`, as a JSON Lines file."""
    return write_jsonl(folder / f"later-{n}.jsonl", [with_contact(fresh_lead(n), email=email)])


def do_everything(journal: Journaled, folder: Path) -> dict[str, int]:
    """Through the CLI, with the journal: a purge (leads 1 and 2 are due), an erasure of
    seeker 3, a later lead of seeker 3 erased on import, a subject hold on seeker 4 placed and
    released, a lead hold on lead 5, a pending email request for seeker 6 and a pending
    lead-id request for lead 7. Returns the ids it made."""
    env = journal.env
    ids: dict[str, int] = {}
    assert run(["purge", "--force"], env).exit_code == 0
    erased = run(["erase", "--email", "seeker.3@example.com", "--json"], env)
    assert erased.exit_code == 0, erased.output
    ids["erase"] = json_out(erased)["request_id"]
    later = suppressed_lead_file(folder, 30, "seeker.3@example.com")
    imported = json_out(run(["import", str(later), "--json"], env))
    assert imported["erased_on_import"] == 1, imported
    placed = json_out(run(["hold", "place", "--email", "seeker.4@example.com", "--reason",
                           "dispute 4", "--json"], env))  # fmt: skip
    ids["subject_hold"] = placed["hold_id"]
    assert run(["hold", "release", str(placed["hold_id"])], env).exit_code == 0
    placed = json_out(run(["hold", "place", "--lead-id", "lead-000005", "--reason", "case 5",
                           "--json"], env))  # fmt: skip
    ids["lead_hold"] = placed["hold_id"]
    added = json_out(run(["requests", "add", "--email", "seeker.6@example.com", "--json"], env))
    ids["pending_email"] = added["request_id"]
    added = json_out(run(["requests", "add", "--lead-id", "lead-000007", "--json"], env))
    ids["pending_lead"] = added["request_id"]
    return ids


def leave_no_dead_rows(database_url: str) -> None:
    """After a PostgreSQL test: the tables emptied and vacuumed, so that the next test's own
    emptying leaves no dead rows for an erasure run's idle check to find (pg_stat counts
    them)."""
    from sqlalchemy import create_engine

    from tests.conftest import _empty_tables

    _empty_tables(database_url)
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for table in ("leads", "lead_subjects", "erasure_requests"):
                conn.exec_driver_sql(f"VACUUM {table}")
    finally:
        engine.dispose()

"""The audit journal (`audit.journal_file`): every audit event outside the database, for a
restore from a backup (`retention replay`).

`sync_journal` brings the journal up to date from the database: it finds the journal's last
event from the end of the file, checks the database holds that event with that hash, then
appends every later event in id order, each followed by the entry the rows give for it
(request.received: the request's suppression entry; hold.placed / hold.released: the hold),
and fsyncs. Every run and command that appended events syncs when it publishes its head
(services/audit.py), so a run that died before its sync is caught up by the next one.

`refuse_if_restored` is the guard every run and command that would append events calls
first: a journal holding events past the database's chain head means the database was
restored from a backup, and replay must come before anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path

from sqlalchemy import Connection, Engine

from retention.config import Settings
from retention.domain.audit_chain import EventDraft
from retention.domain.events import HoldPlaced, HoldReleased, RequestReceived, parse_details
from retention.domain.journal_entries import (
    HoldEntry,
    JournalLineError,
    RequestEntry,
    event_line,
    hold_line,
    request_line,
)
from retention.errors import JournalError
from retention.services.journal_file import JournalTail, JournalWriter, read_tail
from retention.storage.audit import event_hashes, iter_events, read_head
from retention.storage.engine import READ_ONLY
from retention.storage.journal_rows import hold_entries, request_entries

__all__ = ["JournalSync", "journal_problem", "refuse_if_restored", "sync_journal"]

logger = logging.getLogger(__name__)

_CHUNK = 5000  # events read, and their entries looked up, at a time


@dataclass(frozen=True, slots=True)
class JournalSync:
    """What a sync wrote, or why it wrote nothing."""

    written: int  # events appended
    error: str | None = None


def journal_problem(conn: Connection, tail: JournalTail | None, path: Path) -> str | None:
    """Why events of this database cannot be appended to a journal ending at `tail`, or None:
    the journal is ahead of the database (restored from a backup), or the database does not
    hold the journal's last event with its hash (the chains diverged)."""
    if tail is None:
        return None
    head = read_head(conn)
    if tail.event_id > (head.event_id or 0):
        return (
            f"the database looks restored from a backup: its audit chain ends at event "
            f"{head.event_id or 0}, but the audit journal {path} holds events up to "
            f"{tail.event_id}; run `retention replay --journal {path}` first"
        )
    if event_hashes(conn, [tail.event_id]).get(tail.event_id) != tail.hash:
        return (
            f"the audit journal {path} does not continue this store's audit chain: its event "
            f"{tail.event_id} is not the database's event {tail.event_id} (another store's "
            "journal, or the database was restored from a backup and written to since); "
            "nothing was written to it"
        )
    return None


def refuse_if_restored(settings: Settings, engine: Engine) -> None:
    """JournalError when the journal holds events the database does not, or does not continue
    its chain: a run or command that appends events must not start then. A journal that
    cannot be read is left to the sync at the end (the work done, exit 1)."""
    path = settings.audit.journal_file
    if path is None:
        return
    try:
        tail = read_tail(path)
    except (OSError, JournalLineError) as exc:
        logger.warning("cannot read the audit journal %s: %s", path, exc)
        return
    if tail is None:
        return
    with engine.connect().execution_options(**READ_ONLY) as conn:
        problem = journal_problem(conn, tail, path)
    if problem is not None:
        raise JournalError(problem)


def sync_journal(settings: Settings, engine: Engine) -> JournalSync | None:
    """Append to the journal every event after its last one, with their entries, and fsync;
    None when no journal is configured. A journal that cannot be written, or that the
    database does not continue, is the result's error (the caller fails, its work done)."""
    path = settings.audit.journal_file
    if path is None:
        return None
    written = 0
    try:
        with JournalWriter(path) as journal:
            tail = journal.tail()
            with engine.connect().execution_options(**READ_ONLY) as conn:
                problem = journal_problem(conn, tail, path)
                if problem is not None:
                    logger.error("%s", problem)
                    return JournalSync(0, problem)
                events = iter_events(conn, after=tail.event_id if tail else 0, chunk=_CHUNK)
                while chunk := list(islice(events, _CHUNK)):
                    journal.write(_lines(conn, chunk))
                    written += len(chunk)
            journal.finish()
    except OSError as exc:
        error = f"could not write the audit journal {path}: {exc.strerror or exc}"
        logger.error("%s", error)
        return JournalSync(0, error)
    except JournalLineError as exc:
        error = f"the audit journal {path} cannot be read: a line near its end {exc}"
        logger.error("%s", error)
        return JournalSync(0, error)
    if written:
        logger.debug("audit journal %s: %d events appended", path, written)
    return JournalSync(written)


def _lines(conn: Connection, chunk: Sequence[tuple[int, EventDraft, str, str]]) -> Iterator[str]:
    """The chunk's event lines, each followed by its entry."""
    entries = _entries(conn, chunk)
    for event_id, draft, prev_hash, digest in chunk:
        yield event_line(event_id, draft, prev_hash, digest)
        entry = entries.get(event_id)
        if isinstance(entry, RequestEntry):
            yield request_line(entry)
        elif isinstance(entry, HoldEntry):
            yield hold_line(entry)


def _entries(
    conn: Connection, chunk: Iterable[tuple[int, EventDraft, str, str]]
) -> dict[int, RequestEntry | HoldEntry]:
    """The entry of each event of `chunk` that creates one, by event id."""
    received: dict[int, int] = {}
    holds: list[tuple[int, int, datetime | None]] = []
    for event_id, draft, _, _ in chunk:
        if draft.action == RequestReceived.ACTION and draft.request_id is not None:
            received[draft.request_id] = event_id
        elif draft.action in (HoldPlaced.ACTION, HoldReleased.ACTION):
            hold = parse_details(draft.action, draft.details)
            assert isinstance(hold, HoldPlaced | HoldReleased)
            released = draft.occurred_at if isinstance(hold, HoldReleased) else None
            holds.append((event_id, hold.hold_id, released))
    found: dict[int, RequestEntry | HoldEntry] = {}
    if received:
        found.update((entry.event_id, entry) for entry in request_entries(conn, received))
    if holds:
        found.update((entry.event_id, entry) for entry in hold_entries(conn, holds))
    missing = len(received) + len(holds) - len(found)
    if missing:
        logger.warning("%d request or hold row(s) of journaled events are missing", missing)
    return found

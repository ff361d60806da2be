"""Reading the audit journal for replay, line by line, and checking that it continues the
restored database's chain: the journal's event with the head's id (found by bisection, the
lines before it are not read) must have the head's hash,
every event after it must link to the one before and match its own hash (recomputed), its
report columns must agree with its details, and each entry with its event. The first line
that does not is named, with its problem (JournalError, exit 1); a file that is not a journal
at all is an input error (exit 2). Nothing is held in memory but the event being read.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from retention.domain.audit_chain import GENESIS_HASH, EventDraft, event_hash
from retention.domain.events import RequestCompleted, RequestReceived, facet_problem, parse_details
from retention.domain.journal_entries import (
    HoldEntry,
    JournalEvent,
    JournalLineError,
    RequestEntry,
    entry_problem,
    parse_line,
)
from retention.errors import InputError, JournalError
from retention.services.journal_file import (
    JournalTail,
    find_event,
    line_number,
    read_lines,
    read_tail,
)
from retention.storage.audit import ChainHead

__all__ = ["JournalCheck", "JournalWalk", "check_journal"]

logger = logging.getLogger(__name__)

Entry = RequestEntry | HoldEntry


class JournalWalk:
    """One pass over the journal from byte `start` (the line of the database's head event, or
    the beginning): `events()` yields each event after `head` with its entries, checked;
    `last` is the journal's last event once the pass is done."""

    def __init__(self, path: Path, head: ChainHead, start: int = 0) -> None:
        self.path = path
        self.head = head
        self.start = start
        self.last: JournalTail | None = None

    def _refuse(self, offset: int, problem: str) -> JournalError:
        return JournalError(f"{self.path}: line {line_number(self.path, offset)}: {problem}")

    def _lines(self) -> Iterator[tuple[int, JournalEvent | Entry]]:
        try:
            for offset, raw, complete in read_lines(self.path, self.start):
                if not complete:
                    logger.warning(
                        "%s: line %d was cut short (a write interrupted): ignored",
                        self.path, line_number(self.path, offset),
                    )  # fmt: skip
                    return
                try:
                    yield offset, parse_line(raw)
                except JournalLineError as exc:
                    if offset == 0:
                        raise InputError(
                            f"--journal {self.path}: not an audit journal (line 1 {exc})"
                        ) from None
                    problem = f"{exc} (the journal was altered or damaged)"
                    raise self._refuse(offset, problem) from None
        except OSError as exc:
            raise InputError(f"--journal {self.path}: cannot be read: {exc.strerror}") from None

    def events(self) -> Iterator[tuple[JournalEvent, list[Entry]]]:
        head_id = self.head.event_id or 0
        running = GENESIS_HASH if head_id == 0 else None
        previous: int | None = None
        pending: tuple[JournalEvent, list[Entry]] | None = None
        for offset, item in self._lines():
            if not isinstance(item, JournalEvent):
                if previous is None:
                    raise self._refuse(offset, "an entry before any event")
                if pending is not None:
                    problem = entry_problem(pending[0], item)
                    if problem is not None:
                        raise self._refuse(offset, f"the {_kind(item)} entry {problem}")
                    pending[1].append(item)
                continue
            if pending is not None:
                yield pending
                pending = None
            if previous is None and item.id > max(head_id, 1):
                raise self._refuse(
                    offset,
                    f"event {item.id} comes where the journal should hold event "
                    f"{max(head_id, 1)} (the database's head or the first): it misses events",
                )
            if previous is not None and item.id != previous + 1:
                raise self._refuse(
                    offset,
                    f"event {item.id} follows event {previous}: events are missing or out of "
                    "order (the journal was altered)",
                )
            previous = item.id
            self.last = JournalTail(item.id, item.hash)
            if item.id < head_id:
                continue
            if item.id == head_id:
                if item.hash != self.head.hash:
                    raise self._refuse(
                        offset,
                        f"event {item.id} is not the database's event {item.id} (another "
                        "hash): this journal does not continue the restored database's chain "
                        "(another store's journal, or the database was written to after the "
                        "restore)",
                    )
                running = item.hash
                continue
            self._check(offset, item, running)
            running = item.hash
            pending = (item, [])
        if pending is not None:
            yield pending

    def _check(self, offset: int, event: JournalEvent, running: str | None) -> None:
        if event.prev_hash != running:
            raise self._refuse(
                offset,
                f"event {event.id} does not link to the event before it (the journal was altered)",
            )
        if event_hash(event.prev_hash, event.draft) != event.hash:
            raise self._refuse(
                offset, f"event {event.id}: content does not match its hash (it was altered)"
            )
        draft = event.draft
        flaw = _content_problem(
            draft.action, draft.details, draft.category, draft.portal, draft.rule, draft.reason
        )
        if flaw is not None:
            raise self._refuse(offset, f"event {event.id}: {flaw}")


@functools.lru_cache(maxsize=1024)
def _content_problem(
    action: str, details: str, category: str | None, portal: str | None, rule: str | None,
    reason: str | None,
) -> str | None:  # fmt: skip
    """What is wrong with an event's details or report columns (a run's events share a few
    of them: checked once each)."""
    draft = EventDraft(_ANY_TIME, action, details, None, None, None, category, portal, rule,
                       reason)  # fmt: skip
    flaw = facet_problem(draft)
    if flaw is None:
        try:
            parse_details(action, details)
        except ValueError as exc:
            flaw = str(exc)
    return flaw


_ANY_TIME = datetime(2000, 1, 1, tzinfo=UTC)  # neither check looks at the time


def _kind(entry: Entry) -> str:
    return "request" if isinstance(entry, RequestEntry) else "hold"


@dataclass(frozen=True, slots=True)
class JournalCheck:
    """What the journal holds past the database's head."""

    head: ChainHead  # the database's
    last: JournalTail | None  # the journal's last event
    events: int  # events after the head: what replay restores
    # Requests received after the head that replay cannot put back for the erasure job to
    # carry out: lead-id requests still open (the erasure job finds a lead-id request's lead
    # by its clear lead id, which the journal never holds) and requests without an entry.
    to_retake: tuple[int, ...]
    start: int = 0  # the offset of the head event's line: where replay reads from


def _start(path: Path, head: ChainHead) -> tuple[int, JournalTail | None]:
    """Where the walk begins (the head event's line, found by bisection; the beginning when
    the chain is empty or the journal's format is not the one bisection knows), and the
    journal's last event when it ends before the head (nothing to walk then)."""
    head_id = head.event_id or 0
    try:
        lines = read_lines(path)
        first = next(lines, None)
        lines.close()
        if first is None:
            raise InputError(f"--journal {path}: not an audit journal (it is empty)")
        try:
            if not isinstance(parse_line(first[1]), JournalEvent):
                return 0, None
        except JournalLineError:
            return 0, None  # the walk names line 1
        if head_id == 0:
            return 0, None
        try:
            tail = read_tail(path)
        except JournalLineError:
            tail = None  # the walk names the line
        if tail is not None and tail.event_id < head_id:
            return os.path.getsize(path), tail
        return find_event(path, head_id), None
    except OSError as exc:
        raise InputError(f"--journal {path}: cannot be read: {exc.strerror}") from None


def check_journal(path: Path, head: ChainHead) -> JournalCheck:
    """Walk the journal once from the database's head event on, checking it (JournalError or
    InputError naming the first problem), before anything is changed."""
    start, behind = _start(path, head)
    if behind is not None:
        return JournalCheck(head, behind, 0, (), start)
    walk = JournalWalk(path, head, start)
    events = 0
    open_by_lead: set[int] = set()
    without_entry: set[int] = set()
    for event, entries in walk.events():
        events += 1
        draft = event.draft
        if draft.action == RequestReceived.ACTION and draft.request_id is not None:
            received = parse_details(draft.action, draft.details)
            assert isinstance(received, RequestReceived)
            if not any(isinstance(entry, RequestEntry) for entry in entries):
                without_entry.add(draft.request_id)
            elif received.kind == "lead_id":
                open_by_lead.add(draft.request_id)
        elif draft.action == RequestCompleted.ACTION and draft.request_id is not None:
            open_by_lead.discard(draft.request_id)
    if walk.last is None:
        raise InputError(f"--journal {path}: not an audit journal (it holds no event)")
    retake = tuple(sorted(open_by_lead | without_entry))
    return JournalCheck(head, walk.last, events, retake, start)

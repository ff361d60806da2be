"""The audit hash chain: each event's hash covers its content and the previous hash.

Events carry no personal data: lead ids, portal, category, request and run ids, the rule, the
names of fields changed, counts. What each action's details hold: domain/events.py.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "GENESIS_HASH",
    "ChainBreak",
    "ChainCheck",
    "EventDraft",
    "SealedEvent",
    "canonical_details",
    "event_hash",
    "seal",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
_SEPARATOR = "\x1f"


def canonical_details(details: Mapping[str, Any]) -> str:
    """The one text form of `details` that is stored and hashed."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before it is chained."""

    occurred_at: datetime
    action: str
    details: str  # canonical JSON text
    lead_id: str | None = None
    run_id: int | None = None
    request_id: int | None = None
    # Stored beside the details for the report's GROUP BY; not hashed (events.facet_problem).
    category: str | None = None
    portal: str | None = None
    rule: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class SealedEvent:
    """An event chained after `prev_hash`: its `hash` covers both."""

    draft: EventDraft
    prev_hash: str
    hash: str


@functools.lru_cache(maxsize=16)
def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_hash(prev_hash: str, event: EventDraft) -> str:
    """SHA-256 over the previous hash and the event's fields, joined by the ASCII unit
    separator, which none of them can contain: hashes are hex, lead ids printable, details
    ASCII-only JSON (control characters escaped), the rest fixed words and numbers."""
    content = _SEPARATOR.join(
        (
            prev_hash,
            _timestamp(event.occurred_at),
            event.action,
            event.lead_id or "",
            str(event.run_id) if event.run_id is not None else "",
            str(event.request_id) if event.request_id is not None else "",
            event.details,
        )
    )
    return hashlib.sha256(content.encode()).hexdigest()


def seal(prev_hash: str, events: Iterable[EventDraft]) -> Iterator[SealedEvent]:
    """Chain `events` after `prev_hash`, in order."""
    for event in events:
        digest = event_hash(prev_hash, event)
        yield SealedEvent(event, prev_hash, digest)
        prev_hash = digest


@dataclass(frozen=True, slots=True)
class ChainBreak:
    event_id: int | None
    problem: str


@dataclass(frozen=True, slots=True)
class ChainCheck:
    events: int
    last_id: int | None
    last_hash: str
    first_break: ChainBreak | None


def verify_chain(
    events: Iterable[tuple[int, EventDraft, str, str]],
    *,
    anchors: Mapping[int, str] | None = None,
    check: Callable[[EventDraft], str | None] | None = None,
    start: tuple[int, str] | None = None,
) -> ChainCheck:
    """Walk (id, draft, prev_hash, hash) in id order from the genesis hash, or from `start`
    (event id, hash) when the events begin after an event already verified.

    Stops at the first event that does not link to the one before it or whose content does
    not match its hash, or for which `check` names a problem. With `anchors` (event id ->
    hash) published earlier, the chain must still hold each of those events with its hash.
    """
    prev_hash, last_id = (GENESIS_HASH, None) if start is None else (start[1], start[0])
    count = 0
    pending = dict(anchors or {})
    for event_id, draft, stored_prev, stored_hash in events:
        if stored_prev != prev_hash:
            problem = "does not link to the event before it (events missing or reordered)"
            return ChainCheck(count, last_id, prev_hash, ChainBreak(event_id, problem))
        if event_hash(prev_hash, draft) != stored_hash:
            problem = "content does not match its hash (the event was altered)"
            return ChainCheck(count, last_id, prev_hash, ChainBreak(event_id, problem))
        flaw = check(draft) if check is not None else None
        if flaw is not None:
            return ChainCheck(count, last_id, prev_hash, ChainBreak(event_id, flaw))
        anchored = pending.pop(event_id, None)
        if anchored is not None and stored_hash != anchored:
            problem = "is not the event the anchor names (the chain was rewritten)"
            return ChainCheck(count, last_id, prev_hash, ChainBreak(event_id, problem))
        prev_hash, last_id, count = stored_hash, event_id, count + 1
    if pending:
        missing = min(pending)
        problem = f"the anchored event {missing} is missing (the chain was truncated)"
        return ChainCheck(count, last_id, prev_hash, ChainBreak(missing, problem))
    return ChainCheck(count, last_id, prev_hash, None)

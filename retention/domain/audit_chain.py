"""The audit hash chain: each event's hash covers its content and the previous hash.

Events carry no personal data: lead ids, portal, category, request and run ids, the rule, the
names of fields changed, counts. What each action's details hold: domain/events.py.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
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
    anchor: tuple[int, str] | None = None,
) -> ChainCheck:
    """Walk (id, draft, prev_hash, hash) in id order from the genesis hash.

    Stops at the first event that does not link to the one before it or whose content does
    not match its hash. With `anchor` (event id, hash) published earlier, the chain must still
    hold that event with that hash.
    """
    prev_hash, last_id, count = GENESIS_HASH, None, 0
    anchor_seen = False
    for event_id, draft, stored_prev, stored_hash in events:
        if stored_prev != prev_hash:
            problem = "does not link to the event before it (events missing or reordered)"
            return ChainCheck(count, last_id, prev_hash, ChainBreak(event_id, problem))
        if event_hash(prev_hash, draft) != stored_hash:
            problem = "content does not match its hash (the event was altered)"
            return ChainCheck(count, last_id, prev_hash, ChainBreak(event_id, problem))
        if anchor is not None and event_id == anchor[0]:
            anchor_seen = True
            if stored_hash != anchor[1]:
                problem = "is not the event the anchor names (the chain was rewritten)"
                return ChainCheck(count, last_id, prev_hash, ChainBreak(event_id, problem))
        prev_hash, last_id, count = stored_hash, event_id, count + 1
    if anchor is not None and not anchor_seen:
        problem = f"the anchored event {anchor[0]} is missing (the chain was truncated)"
        return ChainCheck(count, last_id, prev_hash, ChainBreak(anchor[0], problem))
    return ChainCheck(count, last_id, prev_hash, None)

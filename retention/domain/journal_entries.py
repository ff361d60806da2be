"""The audit journal's lines: every audit event as audit_events holds it, and beside the events
that create them the rows a restore from a backup would lose (a request's suppression entry, a
legal hold). One JSON object per line, in event id order; an entry line follows its event's:

    {"type":"event","id":7,"occurred_at":"2026-01-15T12:00:00Z","action":"request.received",...}
    {"type":"request","event":7,"request_id":3,"kind":"email","subject_hash":"9f2c...",...}
    {"type":"hold","event":9,"hold_id":1,"lead_id":null,"subject_kind":"phone",...}

An event line carries exactly what the chain hashes (`occurred_at` in the chain's own
`YYYY-MM-DDTHH:MM:SSZ` form, `details` as the stored text) and the report columns. An entry
carries no clear identifier, only the keyed hash, and no request reference: what replay
needs, nothing else. Entries are not hashed; `entry_problem` checks one against its event.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retention.domain.audit_chain import EventDraft
from retention.domain.events import HoldPlaced, HoldReleased, RequestReceived, parse_details

__all__ = [
    "HoldEntry",
    "JournalEvent",
    "JournalLine",
    "JournalLineError",
    "RequestEntry",
    "entry_problem",
    "event_line",
    "hold_line",
    "parse_line",
    "request_line",
]

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


class JournalLineError(ValueError):
    """A line that is not a journal line; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class JournalEvent:
    id: int
    draft: EventDraft
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class RequestEntry:
    """An erasure request as received (an email or phone request's is a suppression entry):
    never its clear identifier, never its reference text."""

    event_id: int  # its request.received event
    request_id: int
    kind: str
    subject_hash: bytes
    received_at: datetime
    due_at: datetime
    source: str


@dataclass(frozen=True, slots=True)
class HoldEntry:
    """A legal hold, as placed (released_at None) or as released."""

    event_id: int  # its hold.placed or hold.released event
    hold_id: int
    lead_id: str | None
    subject_kind: str | None
    subject_hash: bytes | None
    reason: str
    created_at: datetime
    expires_at: datetime | None
    released_at: datetime | None


JournalLine = JournalEvent | RequestEntry | HoldEntry


# --- writing ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _optional_time(moment: datetime | None) -> str | None:
    return _time(moment) if moment is not None else None


def event_line(event_id: int, draft: EventDraft, prev_hash: str, digest: str) -> str:
    return _encode(
        {
            "type": "event",
            "id": event_id,
            "occurred_at": _time(draft.occurred_at),
            "action": draft.action,
            "lead_id": draft.lead_id,
            "run_id": draft.run_id,
            "request_id": draft.request_id,
            "details": draft.details,
            "prev_hash": prev_hash,
            "hash": digest,
            "category": draft.category,
            "portal": draft.portal,
            "rule": draft.rule,
            "reason": draft.reason,
        }
    )


def request_line(entry: RequestEntry) -> str:
    return _encode(
        {
            "type": "request",
            "event": entry.event_id,
            "request_id": entry.request_id,
            "kind": entry.kind,
            "subject_hash": entry.subject_hash.hex(),
            "received_at": _time(entry.received_at),
            "due_at": _time(entry.due_at),
            "source": entry.source,
        }
    )


def hold_line(entry: HoldEntry) -> str:
    digest = entry.subject_hash.hex() if entry.subject_hash is not None else None
    return _encode(
        {
            "type": "hold",
            "event": entry.event_id,
            "hold_id": entry.hold_id,
            "lead_id": entry.lead_id,
            "subject_kind": entry.subject_kind,
            "subject_hash": digest,
            "reason": entry.reason,
            "created_at": _time(entry.created_at),
            "expires_at": _optional_time(entry.expires_at),
            "released_at": _optional_time(entry.released_at),
        }
    )


# --- reading ----------------------------------------------------------------------------

_EVENT_KEYS = frozenset(
    (
        "type",
        "id",
        "occurred_at",
        "action",
        "lead_id",
        "run_id",
        "request_id",
        "details",
        "prev_hash",
        "hash",
        "category",
        "portal",
        "rule",
        "reason",
    )
)
_REQUEST_KEYS = frozenset(
    ("type", "event", "request_id", "kind", "subject_hash", "received_at", "due_at", "source")
)
_HOLD_KEYS = frozenset(
    (
        "type",
        "event",
        "hold_id",
        "lead_id",
        "subject_kind",
        "subject_hash",
        "reason",
        "created_at",
        "expires_at",
        "released_at",
    )
)
_HEX = frozenset("0123456789abcdef")
_HASH = re.compile("[0-9a-f]{64}")


def parse_line(text: str | bytes) -> JournalLine:
    """One journal line; JournalLineError saying what is wrong otherwise."""
    try:
        values = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise JournalLineError("is not JSON") from None
    if not isinstance(values, dict):
        raise JournalLineError("is not a JSON object")
    kind = values.get("type")
    if kind == "event":
        return _event(values)
    if kind == "request":
        return _request(values)
    if kind == "hold":
        return _hold(values)
    raise JournalLineError(f"has no known type (got {kind!r})")


def _check_keys(values: dict[str, Any], expected: frozenset[str]) -> None:
    if values.keys() != expected:
        missing, extra = sorted(expected - values.keys()), sorted(values.keys() - expected)
        parts = ([f"misses {', '.join(missing)}"] if missing else []) + (
            [f"has unknown {', '.join(extra)}"] if extra else []
        )
        raise JournalLineError(f"is not a {values['type']} line: it {' and '.join(parts)}")


def _int(values: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = values[key]
    if value is None and optional:
        return None
    if type(value) is not int or value < 1:
        raise JournalLineError(f"{key}: expected a positive integer")
    return value


def _text(values: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = values[key]
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise JournalLineError(f"{key}: expected a string")
    return value


def _digest(values: dict[str, Any], key: str, length: int) -> str:
    value = values[key]
    if not isinstance(value, str) or len(value) != length or not _HEX.issuperset(value):
        raise JournalLineError(f"{key}: expected {length} lower-case hexadecimal digits")
    return value


@functools.lru_cache(maxsize=1024)
def _parse_time(text: str) -> datetime:
    # The chain's form exactly: no fraction, no other zone (its hash covers the seconds only).
    if len(text) != 20 or text[10] != "T" or text[-1] != "Z":
        raise ValueError(text)
    return datetime.fromisoformat(text).astimezone(UTC)


def _moment(values: dict[str, Any], key: str, *, optional: bool = False) -> Any:
    value = values[key]
    if value is None and optional:
        return None
    try:
        return _parse_time(value)
    except (TypeError, ValueError):
        raise JournalLineError(f"{key}: expected a time as YYYY-MM-DDTHH:MM:SSZ") from None


def _is_id(value: Any) -> bool:
    return value is None or (type(value) is int and value > 0)


def _event(values: dict[str, Any]) -> JournalEvent:
    """The common case checked in one expression (a replay reads millions of these); a line
    that fails it is read again field by field, to name what is wrong."""
    _check_keys(values, _EVENT_KEYS)
    event_id, action, details = values["id"], values["action"], values["details"]
    prev_hash, digest = values["prev_hash"], values["hash"]
    lead_id, run_id, request_id = values["lead_id"], values["run_id"], values["request_id"]
    facets = (values["category"], values["portal"], values["rule"], values["reason"])
    if (
        type(event_id) is int and event_id > 0 and type(action) is str and type(details) is str
        and type(prev_hash) is str and _HASH.fullmatch(prev_hash) is not None
        and type(digest) is str and _HASH.fullmatch(digest) is not None
        and (lead_id is None or type(lead_id) is str) and _is_id(run_id) and _is_id(request_id)
        and all(value is None or type(value) is str for value in facets)
    ):  # fmt: skip
        draft = EventDraft(
            _moment(values, "occurred_at"), action, details, lead_id, run_id, request_id, *facets
        )
        return JournalEvent(event_id, draft, prev_hash, digest)
    return _event_by_field(values)


def _event_by_field(values: dict[str, Any]) -> JournalEvent:
    draft = EventDraft(
        occurred_at=_moment(values, "occurred_at"),
        action=_text(values, "action"),
        details=_text(values, "details"),
        lead_id=_text(values, "lead_id", optional=True),
        run_id=_int(values, "run_id", optional=True),
        request_id=_int(values, "request_id", optional=True),
        category=_text(values, "category", optional=True),
        portal=_text(values, "portal", optional=True),
        rule=_text(values, "rule", optional=True),
        reason=_text(values, "reason", optional=True),
    )
    return JournalEvent(
        _int(values, "id"), draft, _digest(values, "prev_hash", 64), _digest(values, "hash", 64)
    )


def _request(values: dict[str, Any]) -> RequestEntry:
    _check_keys(values, _REQUEST_KEYS)
    return RequestEntry(
        event_id=_int(values, "event"),
        request_id=_int(values, "request_id"),
        kind=_text(values, "kind"),
        subject_hash=bytes.fromhex(_digest(values, "subject_hash", 64)),
        received_at=_moment(values, "received_at"),
        due_at=_moment(values, "due_at"),
        source=_text(values, "source"),
    )


def _hold(values: dict[str, Any]) -> HoldEntry:
    _check_keys(values, _HOLD_KEYS)
    digest = values["subject_hash"]
    return HoldEntry(
        event_id=_int(values, "event"),
        hold_id=_int(values, "hold_id"),
        lead_id=_text(values, "lead_id", optional=True),
        subject_kind=_text(values, "subject_kind", optional=True),
        subject_hash=bytes.fromhex(_digest(values, "subject_hash", 64)) if digest else None,
        reason=_text(values, "reason"),
        created_at=_moment(values, "created_at"),
        expires_at=_moment(values, "expires_at", optional=True),
        released_at=_moment(values, "released_at", optional=True),
    )


# --- an entry against its event -----------------------------------------------------------


def entry_problem(event: JournalEvent, entry: RequestEntry | HoldEntry) -> str | None:
    """Why `entry` does not belong to `event` (the event line before it), or None. Entries
    are not hashed: what they repeat from their event must agree with it."""
    if entry.event_id != event.id:
        return f"names event {entry.event_id} but follows event {event.id}"
    draft = event.draft
    if isinstance(entry, RequestEntry):
        if draft.action != RequestReceived.ACTION or draft.request_id != entry.request_id:
            return f"is a request entry, but event {event.id} does not receive that request"
        received = parse_details(draft.action, draft.details)
        assert isinstance(received, RequestReceived)
        if (received.kind, received.source, received.due_at) != (
            entry.kind,
            entry.source,
            entry.due_at,
        ):
            return "disagrees with its event's details (kind, source or due date)"
        return None
    if (entry.lead_id is None) == (entry.subject_hash is None) or (
        (entry.subject_hash is None) != (entry.subject_kind is None)
    ):
        return "holds neither a lead id nor a subject, or both"
    target = "lead_id" if entry.lead_id is not None else entry.subject_kind
    if draft.action == HoldPlaced.ACTION:
        placed = parse_details(draft.action, draft.details)
        assert isinstance(placed, HoldPlaced)
        wanted: tuple[object, ...] = (
            placed.hold_id, placed.target, placed.until, draft.occurred_at, None,
        )  # fmt: skip
        found: tuple[object, ...] = (
            entry.hold_id,
            target,
            entry.expires_at,
            entry.created_at,
            entry.released_at,
        )
    elif draft.action == HoldReleased.ACTION:
        released = parse_details(draft.action, draft.details)
        assert isinstance(released, HoldReleased)
        wanted = (released.hold_id, draft.occurred_at)
        found = (entry.hold_id, entry.released_at)
    else:
        return f"is a hold entry, but event {event.id} is {draft.action}"
    if wanted != found or draft.lead_id != entry.lead_id:
        return "disagrees with its event (hold id, target, times or lead id)"
    return None

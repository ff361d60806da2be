"""The evidence of one erasure request (`retention requests show`): what a data-protection
officer sends the seeker and keeps on file.

Everything comes from the request's row and from the audit events naming it, read in one
read-only snapshot: the leads erased and the fields erased (`lead.erased`), the verification
(every `lead.erased` is written only after its lead was read back clean, in the same
transaction; `request.failed` names how many leads kept a value), the legal holds that
deferred it (`lead.hold_skipped`, `request.deferred`, and the holds found on those leads or
on the request's subject), the events themselves with their hashes, and the chain head.

Never the clear identifier: the request's `subject` column (held while the request is open)
is not read into the result; the subject is its kind and a short prefix of its keyed hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from retention.domain.audit_chain import event_hash
from retention.domain.events import (
    EventDetails,
    LeadErased,
    LeadHoldSkipped,
    RequestDeferred,
    RequestFailed,
    parse_details,
)
from retention.domain.requests import OPEN_STATUSES, RequestStatus
from retention.errors import InputError
from retention.storage.audit import ChainHead, read_head
from retention.storage.request_events import (
    CoveringHold,
    StoredEvent,
    holds_covering,
    request_events,
)
from retention.storage.requests import RequestRow, list_requests
from retention.storage.snapshot import read_snapshot

__all__ = [
    "Deferral",
    "EvidenceEvent",
    "HoldEvidence",
    "RequestEvidence",
    "RequestFacts",
    "Verification",
    "VerificationFailure",
    "request_evidence",
]

# Hex digits of the keyed hash shown: enough to tell requests apart, too few to be a key.
HASH_PREFIX = 8
PHONE_NUMBERS = "phoneNumbers"


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The request's row, without its clear identifier."""

    id: int
    kind: str
    subject_hash_prefix: str
    source: str
    reference: str | None
    status: str
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    on_time: bool | None  # completed by its due time; None while not completed
    overdue: bool  # open and past its due time now
    error: str | None  # why it failed (lead ids, never values)


@dataclass(frozen=True, slots=True)
class VerificationFailure:
    event_id: int
    occurred_at: datetime
    leads: int  # leads that kept a value after the update (rolled back)


@dataclass(frozen=True, slots=True)
class Verification:
    """`passed`: the request completed and every lead it erased was read back clean;
    `failed`: its last attempt left a value (it is retried at every run); `incomplete`: it
    is still open (pending or deferred), each lead erased so far read back clean."""

    result: str
    leads_verified: int
    failures: tuple[VerificationFailure, ...]


@dataclass(frozen=True, slots=True)
class Deferral:
    """A `request.deferred` event: the pass that left `held` leads under a hold."""

    event_id: int
    occurred_at: datetime
    held: int
    leads_erased: int


@dataclass(frozen=True, slots=True)
class HoldEvidence:
    """A legal hold that kept some of the request's leads (`lead_ids`) when it was carried
    out, and whether it is still active now."""

    id: int
    lead_id: str | None  # the held lead, None for a hold on a subject
    subject_kind: str | None
    reason: str
    created_at: datetime
    expires_at: datetime | None
    released_at: datetime | None
    active: bool
    lead_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EvidenceEvent:
    id: int
    occurred_at: datetime
    action: str
    lead_id: str | None
    run_id: int | None
    reason: str | None  # lead.erased: why (request, suppression, upstream); skips: the job
    hash: str
    hash_ok: bool  # the stored hash is that of the event's content and previous hash


@dataclass(frozen=True, slots=True)
class RequestEvidence:
    request: RequestFacts
    lead_ids: tuple[str, ...]  # erased under this request, in the order they were erased
    fields: tuple[str, ...]  # the fields erased (phoneNumbers last)
    verification: Verification
    held_lead_ids: tuple[str, ...]  # skipped under a legal hold at some pass
    deferrals: tuple[Deferral, ...]
    holds: tuple[HoldEvidence, ...]
    events: tuple[EvidenceEvent, ...]
    head: ChainHead  # at the time of reading, after every event shown

    @property
    def leads_erased(self) -> int:
        return len(self.lead_ids)


def request_evidence(engine: Engine, request_id: int, *, now: datetime) -> RequestEvidence:
    """The evidence of request `request_id` as the store holds it now; InputError when there
    is no such request. Reads only."""
    with read_snapshot(engine) as conn:
        found = list_requests(conn, request_id=request_id)
        if not found:
            raise InputError(f"request {request_id}: no such request")
        (row,) = found
        stored = request_events(conn, request_id)
        parsed = [(event, _details(event)) for event in stored]
        skips = [(e.draft.lead_id, e.draft.occurred_at) for e, d in parsed
                 if isinstance(d, LeadHoldSkipped) and e.draft.lead_id]  # fmt: skip
        held = tuple(dict.fromkeys(lead_id for lead_id, _ in skips))
        covering = holds_covering(conn, held, (row.kind, row.subject_hash)) if held else []
        head = read_head(conn)
    erased = [(e, d) for e, d in parsed if isinstance(d, LeadErased) and e.draft.lead_id]
    lead_ids = tuple(dict.fromkeys(str(e.draft.lead_id) for e, _ in erased))
    return RequestEvidence(
        request=_facts(row, now),
        lead_ids=lead_ids,
        fields=_fields([d for _, d in erased]),
        verification=_verification(row.status, len(lead_ids), parsed),
        held_lead_ids=held,
        deferrals=tuple(
            Deferral(e.id, e.draft.occurred_at, d.held, d.leads_erased)
            for e, d in parsed
            if isinstance(d, RequestDeferred)
        ),
        holds=_holds(covering, skips, now),
        events=tuple(_event(event) for event in stored),
        head=head,
    )


def _details(event: StoredEvent) -> EventDetails | None:
    """The event's details, None when they are not its action's shape (`audit verify` names
    such an event; the evidence still lists it, with its hash)."""
    try:
        return parse_details(event.draft.action, event.draft.details)
    except ValueError:
        return None


def _facts(row: RequestRow, now: datetime) -> RequestFacts:
    done = row.completed_at
    return RequestFacts(
        id=row.id, kind=row.kind, subject_hash_prefix=bytes(row.subject_hash).hex()[:HASH_PREFIX],
        source=row.source, reference=row.reference, status=row.status,
        received_at=row.received_at, due_at=row.due_at, completed_at=done,
        on_time=None if done is None else done <= row.due_at,
        overdue=row.status in OPEN_STATUSES and row.due_at < now, error=row.error,
    )  # fmt: skip


def _fields(erased: Sequence[LeadErased]) -> tuple[str, ...]:
    """The union of the erased fields, in the order the events name them, phoneNumbers
    last (every lead.erased empties it)."""
    names: dict[str, None] = {}
    for details in erased:
        names.update(dict.fromkeys(details.fields))
    return (*names, PHONE_NUMBERS) if erased else ()


def _verification(
    status: str, erased: int, parsed: Sequence[tuple[StoredEvent, EventDetails | None]]
) -> Verification:
    failures = tuple(
        VerificationFailure(e.id, e.draft.occurred_at, d.leads)
        for e, d in parsed
        if isinstance(d, RequestFailed)
    )
    if status == RequestStatus.COMPLETED:
        result = "passed"
    elif status == RequestStatus.FAILED:
        result = "failed"
    else:
        result = "incomplete"
    return Verification(result, erased, failures)


def _maybe_active_at(hold: CoveringHold, moment: datetime) -> bool:
    """Whether `hold` can have kept a lead at a skip recorded at `moment` (the run's clock,
    read when it started): not released before it (a release at the same second may have
    come after the check), not expired at it (the run's own test). Not its creation time: a
    hold placed while the run went on applied to it."""
    return (hold.released_at is None or hold.released_at >= moment) and (
        hold.expires_at is None or hold.expires_at > moment
    )


def _holds(
    covering: Sequence[CoveringHold], skips: Sequence[tuple[str, datetime]], now: datetime
) -> tuple[HoldEvidence, ...]:
    """The holds that kept a lead at one of its skips: on that lead, on one of its subjects,
    or on the request's subject (lead_id None), and not released or expired before it."""
    kept: dict[int, dict[str, None]] = {}
    rows: dict[int, CoveringHold] = {}
    for lead_id, moment in skips:
        for hold in covering:
            if hold.lead_id in (lead_id, None) and _maybe_active_at(hold, moment):
                kept.setdefault(hold.hold_id, {})[lead_id] = None
                rows.setdefault(hold.hold_id, hold)
    return tuple(
        HoldEvidence(
            id=hold.hold_id,
            lead_id=hold.hold_lead_id,
            subject_kind=hold.subject_kind,
            reason=hold.reason,
            created_at=hold.created_at,
            expires_at=hold.expires_at,
            released_at=hold.released_at,
            active=hold.released_at is None and (hold.expires_at is None or hold.expires_at > now),
            lead_ids=tuple(kept[hold_id]),
        )
        for hold_id, hold in sorted(rows.items())
    )


def _event(event: StoredEvent) -> EvidenceEvent:
    draft = event.draft
    return EvidenceEvent(
        id=event.id, occurred_at=draft.occurred_at, action=draft.action, lead_id=draft.lead_id,
        run_id=draft.run_id, reason=draft.reason, hash=event.hash,
        hash_ok=event_hash(event.prev_hash, draft) == event.hash,
    )  # fmt: skip

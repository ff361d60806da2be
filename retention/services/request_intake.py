"""Taking in erasure requests: the one place that records a request.

Every request, whoever asks (a person through `erase` or `requests`, a file, the upstream API,
an import meeting a held lead, a lead-id request suppressing the seeker behind the lead), is
taken in here: under the request-intake lock, a subject that already has a request in the
statuses asked for reuses it; otherwise a row is recorded with its `request.received` event.
Only a lead id is ever kept in clear, and only while the request is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from retention.domain.audit_chain import EventDraft
from retention.domain.events import RequestReceived
from retention.domain.requests import OPEN_STATUSES, RequestStatus, due_date
from retention.storage.audit import append_events
from retention.storage.locks import TransactionLock, take_transaction_lock
from retention.storage.requests import insert_request, open_requests_for

__all__ = ["NewRequest", "Taken", "take_in"]


@dataclass(frozen=True, slots=True)
class NewRequest:
    """A request to take in. `subject`: the clear identifier, kept only for a lead id."""

    kind: str
    subject_hash: bytes
    source: str
    received_at: datetime
    subject: str | None = None
    reference: str | None = None
    due_at: datetime | None = None  # default: one calendar month after received_at
    status: RequestStatus = RequestStatus.PENDING
    completed_at: datetime | None = None
    leads_erased: int = 0


@dataclass(frozen=True, slots=True)
class Taken:
    request_id: int
    recorded: bool  # False: the subject's existing request (or one earlier in the same call)
    due_at: datetime | None  # of a request recorded now


def take_in(
    conn: Connection,
    wanted: Sequence[NewRequest],
    *,
    now: datetime,
    reuse: Sequence[str] | None = OPEN_STATUSES,
    events: list[EventDraft] | None = None,
    serialize: bool = True,
) -> list[Taken]:
    """Record `wanted` in the caller's transaction, one Taken each, in order.

    `reuse`: a subject with a request in these statuses gets that request instead of a new
    one (None: always record). `events`: the caller's list of events to append later in the
    same transaction (an import appends its events at its end); by default they are
    appended here. `serialize` (default) takes the intake lock, so that two transactions
    never record the same subject twice (not needed, and not taken, when nothing is reused);
    an import that defers a held lead does not (holding the lock for the rest of an import
    would stop all intake): its race can only leave a second open request for the lead, which
    completes with 0 leads after the first.
    """
    if not wanted:
        return []
    if serialize and reuse is not None:
        take_transaction_lock(conn, TransactionLock.REQUEST_INTAKE)
    subjects = {(request.kind, request.subject_hash) for request in wanted}
    known = open_requests_for(conn, subjects, statuses=reuse) if reuse is not None else {}
    received: list[EventDraft] = []
    taken: list[Taken] = []
    for request in wanted:
        key = (request.kind, request.subject_hash)
        if reuse is not None and key in known:
            taken.append(Taken(known[key], False, None))
            continue
        due = request.due_at or due_date(request.received_at)
        request_id = insert_request(
            conn, kind=request.kind, subject_hash=request.subject_hash,
            subject=request.subject if request.kind == "lead_id" else None,
            received_at=request.received_at, due_at=due, source=request.source,
            reference=request.reference, status=request.status,
            completed_at=request.completed_at, leads_erased=request.leads_erased,
        )  # fmt: skip
        known[key] = request_id
        details = RequestReceived(request.kind, request.source, due)
        received.append(details.draft(now, request_id=request_id))
        taken.append(Taken(request_id, True, due))
    if events is None:
        append_events(conn, received)
    else:
        events.extend(received)
    return taken

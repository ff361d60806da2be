"""One batch of erasure requests, in one transaction.

A batch's leads are erased with one UPDATE per dialect (storage/lead_eraser.py), read back to
verify that nothing of the policy's fields is left, audited (one `lead.erased` per lead, field
names only) and the requests' outcomes recorded: `completed` (the clear identifier dropped),
or `deferred` while held leads remain (the held leads are skipped, with a `lead.hold_skipped`
each). A failed verification rolls the batch back; its requests are then carried out one by
one, and one that fails alone is recorded `failed` (`request.failed`), its leads unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine

from retention.domain.audit_chain import EventDraft
from retention.domain.erasure import ErasedFields
from retention.domain.events import (
    LeadErased,
    LeadHoldSkipped,
    RequestCompleted,
    RequestDeferred,
    RequestFailed,
)
from retention.domain.requests import REQUEST_STATUSES, RequestStatus, status_after
from retention.errors import VerificationError
from retention.services.erasure_outcomes import RequestOutcome
from retention.services.request_intake import NewRequest, take_in
from retention.storage.audit import append_events
from retention.storage.erasure import ErasedLead, RowErasure, held_lead_ids, request_lead_ids
from retention.storage.holds import active_holds_exist
from retention.storage.lead_eraser import lead_eraser
from retention.storage.locks import TransactionLock, take_transaction_lock
from retention.storage.requests import (
    RequestRow,
    RequestUpdate,
    lock_open_requests,
    update_requests,
)

__all__ = [
    "BatchRolledBack",
    "carry_out",
    "carry_out_one_by_one",
    "erase_leads",
    "erased_events",
    "held_leads",
    "lock_for_erasure",
]

logger = logging.getLogger(__name__)


def lock_for_erasure(conn: Connection) -> None:
    """First in every erasure transaction, before any request row: an import's end takes this
    lock exclusively and then updates request rows, so the same order here keeps the two
    from deadlocking (storage/locks.py, SUPPRESSION)."""
    take_transaction_lock(conn, TransactionLock.SUPPRESSION, shared=True)


def held_leads(conn: Connection, lead_ids: Collection[str], now: datetime) -> set[str]:
    """Those of `lead_ids` under an active legal hold (none looked up when no hold is)."""
    if not lead_ids or not active_holds_exist(conn, now):
        return set()
    return held_lead_ids(conn, lead_ids, now)


def erase_leads(
    conn: Connection, lead_ids: Sequence[str], fields: ErasedFields, *, now: datetime
) -> RowErasure:
    """Erase `lead_ids` (those not erased yet) and verify the leads erased by reading them
    back; raises VerificationError, and the caller rolls back, when a value is left (the
    read-back checks the upstream contract's fields too, whatever the policy names). Leads
    another transaction holds are returned as busy (PostgreSQL), for a later run."""
    eraser = lead_eraser(conn)
    erasure = eraser.erase(conn, lead_ids, fields, now)
    erased = [lead.lead_id for lead in erasure.erased]
    left = eraser.keeping_values(conn, erased, fields.verified())
    if left:
        raise VerificationError(left)
    return erasure


def erased_events(
    leads: Sequence[ErasedLead], fields: ErasedFields, *, reason: str, now: datetime,
    run_id: int | None, request_id: int | None,
) -> list[EventDraft]:  # fmt: skip
    return [
        LeadErased(lead.category, lead.portal, fields.names, reason).draft(
            now, lead_id=lead.lead_id, run_id=run_id, request_id=request_id
        )
        for lead in leads
    ]


def carry_out(
    conn: Connection,
    requests: Sequence[RequestRow],
    fields: ErasedFields,
    *,
    now: datetime,
    run_id: int | None,
    skips_audited: Collection[tuple[int, str]] = (),
) -> list[RequestOutcome]:
    """Erase the leads of `requests` (locked by the caller, after lock_for_erasure) in the
    caller's transaction.

    A request is `completed` when all its leads are erased, `deferred` while some are held;
    one with a lead another transaction is writing (an import) keeps its status and is taken
    up again by the next run. Each held lead's skip is audited once per run: not again for
    the (request id, lead id) pairs in `skips_audited` (a retry in the same run).
    """
    found = request_lead_ids(conn, requests)
    leads_of = found.leads
    wanted = list(dict.fromkeys(lead_id for ids in leads_of.values() for lead_id in ids))
    held = held_leads(conn, wanted, now)
    erasure = erase_leads(conn, [i for i in wanted if i not in held], fields, now=now)
    erased = {lead.lead_id: lead for lead in erasure.erased}
    busy = set(erasure.busy)
    events: list[EventDraft] = []
    changes: list[RequestUpdate] = []
    outcomes: list[RequestOutcome] = []
    claimed: set[str] = set()
    skipped = LeadHoldSkipped("erasure")
    for request in requests:
        mine = [erased[i] for i in leads_of[request.id] if i in erased and i not in claimed]
        claimed.update(lead.lead_id for lead in mine)
        kept = [i for i in leads_of[request.id] if i in held]
        events += erased_events(
            mine, fields, reason="request", now=now, run_id=run_id, request_id=request.id
        )
        events += [
            skipped.draft(now, lead_id=lead_id, run_id=run_id, request_id=request.id)
            for lead_id in kept
            if (request.id, lead_id) not in skips_audited
        ]
        total = request.leads_erased + len(mine)
        left_busy = any(i in busy for i in leads_of[request.id])
        status = status_after(request.status, held=bool(kept), busy=left_busy)
        if not left_busy:
            closed = RequestDeferred if status is RequestStatus.DEFERRED else RequestCompleted
            events.append(closed(len(kept), total).draft(now, run_id=run_id, request_id=request.id))
        completed_at = now if status is RequestStatus.COMPLETED else None
        changes.append(RequestUpdate(request.id, status, len(mine), completed_at))
        outcomes.append(
            RequestOutcome(
                request.id, status, total, len(mine), len(kept),
                tuple(lead.lead_id for lead in mine), busy=left_busy, held_ids=tuple(kept),
            )
        )  # fmt: skip
    update_requests(conn, changes)
    for request in requests:
        subjects = found.subjects.get(request.id, set())
        events += _suppress_subjects_of_lead(conn, request, subjects, now=now, run_id=run_id)
    append_events(conn, events)
    return outcomes


def _suppress_subjects_of_lead(
    conn: Connection, request: RequestRow, subjects: set[tuple[str, bytes]], *,
    now: datetime, run_id: int | None,
) -> list[EventDraft]:  # fmt: skip
    """A lead-id request also suppresses the seeker behind the lead: each of the lead's email
    and phone subjects without a request of its own gets one, completed at once (reference
    `from request N`), so their leads imported later are erased on arrival."""
    if not subjects:
        return []
    wanted = [
        NewRequest(
            kind,
            digest,
            request.source,
            request.received_at,
            due_at=request.due_at,
            reference=f"from request {request.id}",
            status=RequestStatus.COMPLETED,
            completed_at=now,
        )
        for kind, digest in sorted(subjects)
    ]
    received: list[EventDraft] = []
    taken = take_in(conn, wanted, now=now, reuse=REQUEST_STATUSES, events=received)
    events: list[EventDraft] = []
    for suppression, received_event in zip((t for t in taken if t.recorded), received, strict=True):
        completed = RequestCompleted(0, 0, from_request=request.id)
        events += [
            received_event,
            completed.draft(now, run_id=run_id, request_id=suppression.request_id),
        ]
    return events


def _record_failure(
    engine: Engine, request: RequestRow, error: VerificationError, *, now: datetime,
    run_id: int | None,
) -> RequestOutcome:  # fmt: skip
    with engine.begin() as conn:
        failed = RequestStatus.FAILED
        update_requests(conn, [RequestUpdate(request.id, failed, 0, None, str(error))])
        details = RequestFailed(len(error.lead_ids), "verification")
        append_events(conn, [details.draft(now, run_id=run_id, request_id=request.id)])
    logger.error("erasure request %d failed: %s", request.id, error)
    return RequestOutcome(request.id, failed, request.leads_erased, 0, 0, error=str(error))


class BatchRolledBack(Exception):
    """A batch failed its verification and was rolled back: its requests go one by one."""

    def __init__(self, requests: list[RequestRow], cause: VerificationError) -> None:
        super().__init__("roll back")
        self.requests = requests
        self.cause = cause


def carry_out_one_by_one(
    engine: Engine, requests: Sequence[RequestRow], fields: ErasedFields, *, now: datetime,
    run_id: int | None, skips_audited: Collection[tuple[int, str]],
) -> list[RequestOutcome]:  # fmt: skip
    """After a batch failed its verification: each request on its own."""
    outcomes: list[RequestOutcome] = []
    for request in requests:
        try:
            with engine.begin() as conn:
                lock_for_erasure(conn)
                locked = lock_open_requests(conn, limit=1, ids=[request.id])
                if not locked:
                    continue  # handled meanwhile by another process
                outcomes += carry_out(conn, locked, fields, now=now, run_id=run_id,
                                      skips_audited=skips_audited)  # fmt: skip
        except VerificationError as exc:
            outcomes.append(_record_failure(engine, request, exc, now=now, run_id=run_id))
    return outcomes

"""Carrying out erasure requests: every lead of the subject erased, verified, audited.

Requests are taken oldest first, `erasure.batch_size` per transaction. In one transaction a
batch's leads are erased with one UPDATE, read back to verify nothing of the policy's fields
is left, audited (one `lead.erased` per lead, field names only) and the requests' outcomes
recorded: `completed` (the clear identifier dropped), or `deferred` while held leads remain
(the held leads are skipped, with a `lead.hold_skipped` each). A failed verification rolls the
batch back; its requests are then retried one by one, and one that fails alone is recorded
`failed` (`request.failed`), its leads unchanged. Erasing again changes nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine

from retention.config import Settings
from retention.domain.audit_chain import EventDraft, canonical_details
from retention.domain.erasure import (
    REQUEST_STATUSES,
    due_date,
    erased_details,
    verified_fields,
)
from retention.errors import InputError, VerificationError
from retention.services.audit import current_head, publish_head
from retention.services.subjects import RequestSubject, request_subject_of
from retention.storage.audit import ChainHead, append_events
from retention.storage.dialect import (
    concurrent_workers,
    take_request_intake_lock,
    take_suppression_lock,
)
from retention.storage.engine import READ_ONLY
from retention.storage.erasure import (
    ErasedLead,
    RowErasure,
    erase_lead_rows,
    fields_with_values,
    held_lead_ids,
    leads_keeping_values,
)
from retention.storage.holds import active_holds_exist
from retention.storage.requests import (
    RequestRow,
    RequestUpdate,
    insert_request,
    list_requests,
    lock_open_requests,
    open_requests_for,
    request_lead_ids,
    update_requests,
)
from retention.storage.residue import ResidueReport, clean_residue

__all__ = [
    "CHANGED_TABLES",
    "BatchProgress",
    "ErasureResult",
    "RequestOutcome",
    "erase_subject",
    "process_requests",
    "received_event",
]

logger = logging.getLogger(__name__)

SAMPLE_SIZE = 10
# Erased values leave dead row versions here; a completed request drops its clear identifier.
CHANGED_TABLES = ("leads", "lead_subjects", "erasure_requests")


@dataclass(frozen=True, slots=True)
class RequestOutcome:
    request_id: int | None  # None: a dry run of a request not recorded
    status: str  # completed, deferred or failed (what it would be, in a dry run)
    leads_erased: int  # by the request so far, this run included
    erased_now: int
    hold_skipped: int
    lead_ids: tuple[str, ...] = ()  # erased now (dry run: would be)
    fields: dict[str, list[str]] = field(default_factory=dict)  # dry run: lead id -> fields
    error: str | None = None
    residue: ResidueReport | None = None
    busy: bool = False  # a lead was held by another transaction: the request stays open
    held_ids: tuple[str, ...] = ()  # leads kept by a legal hold in this pass
    audit_head: ChainHead | None = None  # `retention erase`: the head it published
    anchor_error: str | None = None  # ... or why the anchor file could not be written


@dataclass(frozen=True, slots=True)
class BatchProgress:
    batch: int
    requests: int
    leads_erased: int


@dataclass(frozen=True, slots=True)
class ErasureResult:
    dry_run: bool
    requests: int
    completed: int
    deferred: int
    failed: int
    leads_erased: int
    hold_skipped: int
    batches: int
    sample_lead_ids: tuple[str, ...]
    outcomes: tuple[RequestOutcome, ...]
    stopped: bool = False

    def counts(self) -> dict[str, int]:
        return {
            "requests": self.requests,
            "completed": self.completed,
            "deferred": self.deferred,
            "failed": self.failed,
            "leads_erased": self.leads_erased,
            "hold_skipped": self.hold_skipped,
            "batches": self.batches,
        }


def received_event(
    request_id: int, kind: str, source: str, due_at: datetime, now: datetime
) -> EventDraft:
    details = {"due_at": due_at.isoformat(), "kind": kind, "source": source}
    return EventDraft(now, "request.received", canonical_details(details), request_id=request_id)


def _lead_events(
    leads: Sequence[ErasedLead], fields: Sequence[str], *, reason: str, now: datetime,
    run_id: int | None, request_id: int | None,
) -> list[EventDraft]:  # fmt: skip
    return [
        EventDraft(
            now,
            "lead.erased",
            erased_details(
                category=lead.category, portal=lead.portal, fields=fields, reason=reason
            ),
            lead_id=lead.lead_id,
            run_id=run_id,
            request_id=request_id,
        )
        for lead in leads
    ]


def erase_leads(
    conn: Connection,
    lead_ids: Sequence[str],
    fields: Sequence[str],
    *,
    now: datetime,
) -> RowErasure:
    """Erase `lead_ids` (those not erased yet) and verify the leads erased by reading them
    back; raises VerificationError, and the caller rolls back, when a value is left. Leads
    another transaction holds are returned as busy (PostgreSQL), for a later run."""
    erasure = erase_lead_rows(conn, lead_ids, fields, now)
    erased = [lead.lead_id for lead in erasure.erased]
    left = leads_keeping_values(conn, erased, verified_fields(fields))
    if left:
        raise VerificationError(left)
    return erasure


def _carry_out(
    conn: Connection,
    requests: Sequence[RequestRow],
    fields: Sequence[str],
    *,
    now: datetime,
    run_id: int | None,
    skips_audited: Collection[tuple[int, str]] = (),
) -> list[RequestOutcome]:
    """Erase the leads of `requests` (locked by the caller, after the suppression lock) in the
    caller's transaction.

    A request is `completed` when all its leads are erased, `deferred` while some are held;
    one with a lead another transaction is writing (an import) keeps its status and is taken
    up again by the next run. Each held lead's skip is audited once per run: not again for
    the (request id, lead id) pairs in `skips_audited` (a retry in the same run).
    """
    found = request_lead_ids(conn, requests)
    leads_of = found.leads
    wanted = list(dict.fromkeys(lead_id for ids in leads_of.values() for lead_id in ids))
    held = held_lead_ids(conn, wanted, now) if wanted and active_holds_exist(conn, now) else set()
    erasure = erase_leads(conn, [i for i in wanted if i not in held], fields, now=now)
    erased = {lead.lead_id: lead for lead in erasure.erased}
    busy = set(erasure.busy)
    events: list[EventDraft] = []
    changes: list[RequestUpdate] = []
    outcomes: list[RequestOutcome] = []
    claimed: set[str] = set()
    for request in requests:
        mine = [erased[i] for i in leads_of[request.id] if i in erased and i not in claimed]
        claimed.update(lead.lead_id for lead in mine)
        kept = [i for i in leads_of[request.id] if i in held]
        events += _lead_events(
            mine, fields, reason="request", now=now, run_id=run_id, request_id=request.id
        )
        events += [
            EventDraft(
                now,
                "lead.hold_skipped",
                canonical_details({"job": "erasure"}),
                lead_id=lead_id,
                run_id=run_id,
                request_id=request.id,
            )
            for lead_id in kept
            if (request.id, lead_id) not in skips_audited
        ]
        total = request.leads_erased + len(mine)
        left_busy = any(i in busy for i in leads_of[request.id])
        if left_busy:
            status = request.status if request.status != "failed" else "pending"
        else:
            status = "deferred" if kept else "completed"
            details = {"held": len(kept), "leads_erased": total}
            events.append(
                EventDraft(
                    now,
                    f"request.{status}",
                    canonical_details(details),
                    run_id=run_id,
                    request_id=request.id,
                )
            )
        changes.append(
            RequestUpdate(request.id, status, len(mine), now if status == "completed" else None)
        )
        outcomes.append(
            RequestOutcome(
                request.id,
                status,
                total,
                len(mine),
                len(kept),
                tuple(lead.lead_id for lead in mine),
                busy=left_busy,
                held_ids=tuple(kept),
            )
        )
    update_requests(conn, changes)
    for request in requests:
        events += _suppress_subjects_of_lead(conn, request, found.subjects.get(request.id, set()),
                                             now=now, run_id=run_id)  # fmt: skip
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
    take_request_intake_lock(conn)  # another worker may be suppressing the same subject
    known = open_requests_for(conn, subjects, statuses=REQUEST_STATUSES)
    events: list[EventDraft] = []
    for kind, digest in sorted(subjects - set(known)):
        request_id = insert_request(
            conn, kind=kind, subject_hash=digest, subject=None, received_at=request.received_at,
            due_at=request.due_at, source=request.source, reference=f"from request {request.id}",
            status="completed", completed_at=now,
        )  # fmt: skip
        events.append(received_event(request_id, kind, request.source, request.due_at, now))
        details = canonical_details({"from_request": request.id, "held": 0, "leads_erased": 0})
        events.append(
            EventDraft(now, "request.completed", details, run_id=run_id, request_id=request_id)
        )
    return events


def _record_failure(
    engine: Engine, request: RequestRow, error: VerificationError, *, now: datetime,
    run_id: int | None,
) -> RequestOutcome:  # fmt: skip
    with engine.begin() as conn:
        update_requests(conn, [RequestUpdate(request.id, "failed", 0, None, str(error))])
        details = canonical_details({"leads": len(error.lead_ids), "reason": "verification"})
        append_events(
            conn,
            [EventDraft(now, "request.failed", details, run_id=run_id, request_id=request.id)],
        )
    logger.error("erasure request %d failed: %s", request.id, error)
    return RequestOutcome(request.id, "failed", request.leads_erased, 0, 0, error=str(error))


class _RollBack(Exception):
    def __init__(self, requests: list[RequestRow], cause: VerificationError) -> None:
        super().__init__("roll back")
        self.requests = requests
        self.cause = cause


def _one_by_one(
    engine: Engine, requests: Sequence[RequestRow], fields: Sequence[str], *, now: datetime,
    run_id: int | None, skips_audited: Collection[tuple[int, str]],
) -> list[RequestOutcome]:  # fmt: skip
    """After a batch failed its verification: each request on its own."""
    outcomes: list[RequestOutcome] = []
    for request in requests:
        try:
            with engine.begin() as conn:
                take_suppression_lock(conn, shared=True)
                locked = lock_open_requests(conn, limit=1, ids=[request.id])
                if not locked:
                    continue  # handled meanwhile by another process
                outcomes += _carry_out(conn, locked, fields, now=now, run_id=run_id,
                                       skips_audited=skips_audited)  # fmt: skip
        except VerificationError as exc:
            outcomes.append(_record_failure(engine, request, exc, now=now, run_id=run_id))
    return outcomes


@dataclass
class _Queue:
    """The open requests one run works through, shared by its workers. Each batch is taken
    (and locked) after the newest request handed out so far in this run, so no request is
    taken twice by one run, even when it stays open (deferred, or left busy)."""

    size: int
    request_ids: Sequence[int] | None
    skips_audited: frozenset[tuple[int, str]] = frozenset()  # see _carry_out
    after: tuple[datetime, int] | None = None
    stopping: bool = False  # a worker failed: the others stop after their batch
    mutex: threading.Lock = field(default_factory=threading.Lock)

    def take(self, conn: Connection) -> list[RequestRow]:
        with self.mutex:
            requests = lock_open_requests(
                conn, limit=self.size, after=self.after, ids=self.request_ids,
                skip_locked=self.request_ids is None,
            )  # fmt: skip
            if requests:
                newest = requests[-1].key
                self.after = newest if self.after is None else max(self.after, newest)
            return requests


@dataclass
class _Progress:
    """Outcomes of a run's batches, from one worker or several."""

    on_batch: Callable[[BatchProgress], None] | None
    outcomes: list[RequestOutcome] = field(default_factory=list)
    batches: int = 0
    mutex: threading.Lock = field(default_factory=threading.Lock)
    _seen: set[int | None] = field(default_factory=set)

    def add(self, batch: Sequence[RequestOutcome]) -> None:
        with self.mutex:
            self.batches += 1
            self.outcomes += batch
            self._seen.update(o.request_id for o in batch)  # a retried request counts once
            logger.debug("erasure batch %d: %d requests", self.batches, len(batch))
            if self.on_batch is not None:
                erased = sum(o.erased_now for o in self.outcomes)
                self.on_batch(BatchProgress(self.batches, len(self._seen), erased))


def _work_through(
    engine: Engine, queue: _Queue, progress: _Progress, fields: Sequence[str], *,
    now: datetime, run_id: int | None, should_stop: Callable[[], bool] | None,
) -> bool:  # fmt: skip
    """Carry out batches from `queue` until it is empty (False) or the run is told to stop
    (True). A batch that fails its verification is rolled back and retried one by one."""
    while True:
        if queue.stopping or (should_stop is not None and should_stop()):
            return True
        try:
            with engine.begin() as conn:
                # Before any request row: an import's end takes this lock exclusively and then
                # updates request rows, so the same order here keeps the two from deadlocking.
                take_suppression_lock(conn, shared=True)
                requests = queue.take(conn)
                if not requests:
                    return False
                try:
                    batch = _carry_out(conn, requests, fields, now=now, run_id=run_id,
                                       skips_audited=queue.skips_audited)  # fmt: skip
                except VerificationError as exc:
                    raise _RollBack(requests, exc) from exc
        except _RollBack as rollback:
            logger.warning(
                "a batch of %d requests failed its verification (%s); retrying one by one",
                len(rollback.requests), rollback.cause,
            )  # fmt: skip
            batch = _one_by_one(engine, rollback.requests, fields, now=now, run_id=run_id,
                                skips_audited=queue.skips_audited)  # fmt: skip
        progress.add(batch)


def _in_parallel(workers: int, work: Callable[[], bool], queue: _Queue) -> bool:
    """Run `work` on `workers` threads (each worker its own connection and transactions);
    the first error stops the others after their batch and is raised."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="erasure") as pool:
        futures = [pool.submit(work) for _ in range(workers)]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        if any(future.exception() is not None for future in done):
            queue.stopping = True
        wait(futures)
    for future in futures:
        error = future.exception()
        if error is not None:
            raise error
    return any(future.result() for future in futures)


def process_requests(
    settings: Settings,
    engine: Engine,
    *,
    now: datetime,
    run_id: int | None,
    request_ids: Sequence[int] | None = None,
    dry_run: bool = False,
    on_batch: Callable[[BatchProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ErasureResult:
    """Carry out the open requests (all, or `request_ids`), oldest first; see the module
    docstring. A dry run reports what would be erased and changes nothing.

    On PostgreSQL `erasure.workers` batches run at once, each on its own connection. A
    request left busy because the other batch held one of its leads (two requests of one
    seeker) is carried out again once the batches are done."""
    fields = settings.erasure.fields
    size = settings.erasure.batch_size
    if dry_run:
        return _dry_run(engine, fields, now=now, size=size, request_ids=request_ids)
    workers = 1 if request_ids is not None else concurrent_workers(engine, settings.erasure.workers)
    progress = _Progress(on_batch)
    queue = _Queue(size, request_ids)

    def work(queue: _Queue = queue) -> bool:
        return _work_through(
            engine, queue, progress, fields, now=now, run_id=run_id, should_stop=should_stop
        )

    stopped = work() if workers == 1 else _in_parallel(workers, work, queue)
    busy = [o.request_id for o in progress.outcomes if o.busy and o.request_id is not None]
    if busy and workers > 1 and not stopped:
        first = len(progress.outcomes)
        audited = frozenset(
            (o.request_id, lead_id)
            for o in progress.outcomes
            if o.request_id is not None
            for lead_id in o.held_ids
        )
        stopped = work(_Queue(size, busy, audited))
        progress.outcomes = _merge_retries(progress.outcomes[:first], progress.outcomes[first:])
    return _result(progress.outcomes, batches=progress.batches, dry_run=False, stopped=stopped)


def _merge_retries(
    outcomes: Sequence[RequestOutcome], retries: Sequence[RequestOutcome]
) -> list[RequestOutcome]:
    """One outcome per request: a retried request's leads erased and held leads skipped in
    both passes, its status from the retry."""
    retried = {o.request_id: o for o in retries}
    merged = []
    for outcome in outcomes:
        again = retried.pop(outcome.request_id, None)
        if again is not None:
            held = tuple(dict.fromkeys(outcome.held_ids + again.held_ids))
            outcome = dataclasses.replace(
                again,
                erased_now=outcome.erased_now + again.erased_now,
                lead_ids=outcome.lead_ids + again.lead_ids,
                hold_skipped=len(held),  # each skip of this run, audited once
                held_ids=held,
            )
        merged.append(outcome)
    return merged + list(retried.values())


def _result(
    outcomes: Sequence[RequestOutcome], *, batches: int, dry_run: bool, stopped: bool = False
) -> ErasureResult:
    sample: list[str] = []
    for outcome in outcomes:
        sample.extend(outcome.lead_ids[: SAMPLE_SIZE - len(sample)])
    return ErasureResult(
        dry_run=dry_run,
        requests=len(outcomes),
        completed=sum(1 for o in outcomes if o.status == "completed"),
        deferred=sum(1 for o in outcomes if o.status == "deferred"),
        failed=sum(1 for o in outcomes if o.status == "failed"),
        leads_erased=sum(o.erased_now for o in outcomes),
        hold_skipped=sum(o.hold_skipped for o in outcomes),
        batches=batches,
        sample_lead_ids=tuple(sample),
        outcomes=tuple(outcomes),
        stopped=stopped,
    )


def _preview(
    conn: Connection, requests: Sequence[RequestRow], fields: Sequence[str], now: datetime
) -> list[RequestOutcome]:
    leads_of = request_lead_ids(conn, requests).leads
    wanted = list(dict.fromkeys(i for ids in leads_of.values() for i in ids))
    held = held_lead_ids(conn, wanted, now) if wanted and active_holds_exist(conn, now) else set()
    outcomes = []
    claimed: set[str] = set()
    for request in requests:
        mine = [i for i in leads_of[request.id] if i not in held and i not in claimed]
        claimed.update(mine)
        kept = [i for i in leads_of[request.id] if i in held]
        outcomes.append(
            RequestOutcome(
                request.id,
                "deferred" if kept else "completed",
                request.leads_erased + len(mine),
                len(mine),
                len(kept),
                tuple(mine),
            )
        )
    return outcomes


def _dry_run(
    engine: Engine,
    fields: Sequence[str],
    *,
    now: datetime,
    size: int,
    request_ids: Sequence[int] | None,
) -> ErasureResult:
    outcomes: list[RequestOutcome] = []
    batches = 0
    after: tuple[datetime, int] | None = None
    with engine.connect().execution_options(**READ_ONLY) as conn:
        while True:
            requests = lock_open_requests(
                conn, limit=size, after=after, ids=request_ids, lock=False
            )
            if not requests:
                break
            after = requests[-1].key
            batches += 1
            outcomes += _preview(conn, requests, fields, now)
    return _result(outcomes, batches=batches, dry_run=True)


def record_request(
    conn: Connection,
    subject: RequestSubject,
    *,
    source: str,
    reference: str | None,
    received_at: datetime,
    now: datetime,
) -> int:
    """Queue a request (`pending`), with its `request.received` event."""
    due = due_date(received_at)
    request_id = insert_request(
        conn, kind=subject.kind, subject_hash=subject.hash,
        # Only a lead id is kept in clear (to find the lead); an email or phone number never is.
        subject=subject.value if subject.kind == "lead_id" else None,
        received_at=received_at, due_at=due, source=source, reference=reference,
    )  # fmt: skip
    append_events(conn, [received_event(request_id, subject.kind, source, due, now)])
    return request_id


def clean_reference(reference: str | None) -> str | None:
    if reference is None:
        return None
    text = reference.strip()
    if len(text) > 200:
        raise InputError("--reference: at most 200 characters")
    return text or None


def erase_subject(
    settings: Settings,
    engine: Engine,
    *,
    now: datetime,
    email: str | None = None,
    phone: str | None = None,
    lead_id: str | None = None,
    region: str | None = None,
    reference: str | None = None,
    dry_run: bool = False,
) -> RequestOutcome:
    """`retention erase`: record a request and carry it out at once. A dry run records
    nothing and tells which leads and which fields would change."""
    reference = clean_reference(reference)
    if dry_run:
        with engine.connect().execution_options(**READ_ONLY) as conn:
            subject = request_subject_of(
                settings, conn, email=email, phone=phone, lead_id=lead_id, region=region
            )
            probe = RequestRow(
                0, subject.kind, subject.hash, subject.value, now, due_date(now), None,
                "pending", 0, "cli", reference, None,
            )  # fmt: skip
            (preview,) = _preview(conn, [probe], settings.erasure.fields, now)
            changes = fields_with_values(conn, preview.lead_ids, settings.erasure.fields)
        return RequestOutcome(
            None, preview.status, preview.leads_erased, preview.erased_now,
            preview.hold_skipped, preview.lead_ids, changes,
        )  # fmt: skip
    with engine.begin() as conn:
        subject = request_subject_of(
            settings, conn, email=email, phone=phone, lead_id=lead_id, region=region
        )
        # A subject with an open request (queued, deferred, failed) gets that one carried
        # out rather than a second request.
        take_request_intake_lock(conn)
        existing = open_requests_for(conn, [(subject.kind, subject.hash)])
        request_id = existing.get((subject.kind, subject.hash)) or record_request(
            conn, subject, source="cli", reference=reference, received_at=now, now=now
        )
    result = process_requests(settings, engine, now=now, run_id=None, request_ids=[request_id])
    if result.outcomes:
        outcome = result.outcomes[0]
        if outcome.erased_now:
            # SQLite: the WAL is checkpointed now. PostgreSQL: VACUUM of a large table does not
            # fit a command run by hand; the dead rows are reported, and the next erasure job
            # run vacuums them.
            residue = clean_residue(engine, CHANGED_TABLES, vacuum=False)
            outcome = dataclasses.replace(outcome, residue=residue)
    else:
        # Another process carried it out between the two transactions: what it recorded.
        with engine.connect().execution_options(**READ_ONLY) as conn:
            (row,) = list_requests(conn, request_id=request_id)
        outcome = RequestOutcome(row.id, row.status, row.leads_erased, 0, 0, error=row.error)
    head = current_head(engine)
    error = publish_head(settings, head, source="erase", run_id=None, when=now)
    return dataclasses.replace(outcome, audit_head=head, anchor_error=error)

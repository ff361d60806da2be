"""What erasing would do, changing nothing: the dry runs of the erasure job and of `erase`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Engine

from retention.domain.erasure import ErasedFields
from retention.domain.requests import RequestStatus, due_date
from retention.services.erasure_batch import held_leads
from retention.services.erasure_outcomes import ErasureResult, RequestOutcome, summarize
from retention.services.subjects import RequestSubject
from retention.storage.engine import READ_ONLY
from retention.storage.erasure import fields_with_values, request_lead_ids
from retention.storage.requests import RequestRow, lock_open_requests

__all__ = ["preview_queue", "preview_subject"]


def _preview(
    conn: Connection, requests: Sequence[RequestRow], now: datetime
) -> list[RequestOutcome]:
    leads_of = request_lead_ids(conn, requests).leads
    held = held_leads(conn, list(dict.fromkeys(i for ids in leads_of.values() for i in ids)), now)
    outcomes = []
    claimed: set[str] = set()
    for request in requests:
        mine = [i for i in leads_of[request.id] if i not in held and i not in claimed]
        claimed.update(mine)
        kept = [i for i in leads_of[request.id] if i in held]
        status = RequestStatus.DEFERRED if kept else RequestStatus.COMPLETED
        outcomes.append(
            RequestOutcome(
                request.id, status, request.leads_erased + len(mine), len(mine), len(kept),
                tuple(mine),
            )
        )  # fmt: skip
    return outcomes


def preview_queue(
    engine: Engine, *, now: datetime, size: int, request_ids: Sequence[int] | None
) -> ErasureResult:
    """The erasure job's dry run: the open requests in queue order, batch by batch, nothing
    locked or changed."""
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
            outcomes += _preview(conn, requests, now)
    return summarize(outcomes, batches=batches, dry_run=True)


def preview_subject(
    conn: Connection,
    subject: RequestSubject,
    fields: ErasedFields,
    *,
    now: datetime,
    reference: str | None,
) -> RequestOutcome:
    """`retention erase --dry-run`: which leads of the subject, and which of their fields,
    an erasure would change; nothing is recorded."""
    probe = RequestRow(
        0, subject.kind, subject.hash, subject.value, now, due_date(now), None,
        RequestStatus.PENDING, 0, "cli", reference, None,
    )  # fmt: skip
    (preview,) = _preview(conn, [probe], now)
    changes = fields_with_values(conn, preview.lead_ids, fields)
    return RequestOutcome(
        None, preview.status, preview.leads_erased, preview.erased_now, preview.hold_skipped,
        preview.lead_ids, changes,
    )  # fmt: skip

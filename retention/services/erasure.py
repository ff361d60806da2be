"""Carrying out erasure requests: every lead of the subject erased, verified, audited.

The use cases: the erasure job's run over the queue (`process_requests`) and one request by
hand (`erase_subject`). Requests are taken oldest first, `erasure.batch_size` per transaction
(erasure_workers.py); what one batch does, in one transaction: erasure_batch.py; what a dry
run reports: erasure_preview.py; what comes back: erasure_outcomes.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Unpack

from sqlalchemy import Engine

from retention.config import Settings
from retention.domain.erasure import ErasedFields
from retention.errors import InputError
from retention.services.audit import current_head, publish_head
from retention.services.erasure_outcomes import ErasureResult, RequestOutcome, summarize
from retention.services.erasure_preview import preview_queue, preview_subject
from retention.services.erasure_workers import work_through_queue
from retention.services.journal import refuse_if_restored
from retention.services.observer import RunObserver
from retention.services.request_intake import NewRequest, take_in
from retention.services.residue import ERASURE_TABLES, clean_after
from retention.services.subjects import SubjectArgs, request_subject_of
from retention.storage.dialect import concurrent_workers
from retention.storage.engine import READ_ONLY
from retention.storage.requests import list_requests, open_request_exists
from retention.storage.residue import residue_pending

__all__ = [
    "ErasureResult",
    "RequestOutcome",
    "clean_reference",
    "erase_subject",
    "erased_fields_of",
    "erasure_has_work",
    "process_requests",
]


def erased_fields_of(settings: Settings) -> ErasedFields:
    """The policy's erased fields (checked when the settings were loaded)."""
    return ErasedFields(settings.erasure.fields)


def erasure_has_work(engine: Engine) -> bool:
    """Whether an erasure run would do anything: a request is open, or dead rows wait for the
    run's VACUUM (PostgreSQL). An index probe and the table statistics; nothing written."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        if open_request_exists(conn):
            return True
    return residue_pending(engine, ERASURE_TABLES, sweep=False)


def process_requests(
    settings: Settings,
    engine: Engine,
    *,
    now: datetime,
    run_id: int | None,
    request_ids: Sequence[int] | None = None,
    dry_run: bool = False,
    observer: RunObserver | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ErasureResult:
    """Carry out the open requests (all, or `request_ids`), oldest first. A dry run reports
    what would be erased and changes nothing.

    On PostgreSQL `erasure.workers` batches run at once, each on its own connection. A
    request left busy because the other batch held one of its leads (two requests of one
    seeker) is carried out again once the batches are done."""
    size = settings.erasure.batch_size
    if dry_run:
        return preview_queue(engine, now=now, size=size, request_ids=request_ids)
    workers = 1 if request_ids is not None else concurrent_workers(engine, settings.erasure.workers)
    progress, stopped = work_through_queue(
        engine, erased_fields_of(settings), size=size, workers=workers,
        request_ids=request_ids, now=now, run_id=run_id, observer=observer,
        should_stop=should_stop,
    )  # fmt: skip
    return summarize(progress.outcomes, batches=progress.batches, dry_run=False, stopped=stopped)


def clean_reference(reference: str | None) -> str | None:
    if reference is None:
        return None
    text = reference.strip()
    if len(text) > 200:
        raise InputError("--reference: at most 200 characters")
    return text or None


def erase_subject(
    settings: Settings, engine: Engine, *, now: datetime, reference: str | None = None,
    dry_run: bool = False, **subject: Unpack[SubjectArgs],
) -> RequestOutcome:  # fmt: skip
    """`retention erase`: record a request and carry it out at once. A dry run records
    nothing and tells which leads and which fields would change. A subject with an open
    request (queued, deferred, failed) gets that one carried out rather than a second one."""
    reference = clean_reference(reference)
    refuse_if_restored(settings, engine)
    if dry_run:
        with engine.connect().execution_options(**READ_ONLY) as conn:
            given = request_subject_of(settings, conn, **subject)
            return preview_subject(
                conn, given, erased_fields_of(settings), now=now, reference=reference
            )
    with engine.begin() as conn:
        given = request_subject_of(settings, conn, **subject)
        wanted = NewRequest(given.kind, given.hash, "cli", now, subject=given.value,
                            reference=reference)  # fmt: skip
        (taken,) = take_in(conn, [wanted], now=now)
    result = process_requests(
        settings, engine, now=now, run_id=None, request_ids=[taken.request_id]
    )
    if result.outcomes:
        outcome = result.outcomes[0]
        residue = clean_after(engine, ERASURE_TABLES, changed=bool(outcome.erased_now),
                              vacuum=False)  # fmt: skip
        outcome = dataclasses.replace(outcome, residue=residue)
    else:
        # Another process carried it out between the two transactions: what it recorded.
        with engine.connect().execution_options(**READ_ONLY) as conn:
            (row,) = list_requests(conn, request_id=taken.request_id)
        outcome = RequestOutcome(row.id, row.status, row.leads_erased, 0, 0, error=row.error)
    published = publish_head(
        settings, engine, current_head(engine), source="erase", run_id=None, when=now
    )
    return dataclasses.replace(outcome, published=published)

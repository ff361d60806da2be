"""`retention replay`: after a restore from a backup, put back what the audit journal holds
past the restored database's chain head.

First the whole journal is checked (services/replay_check.py) and nothing is changed if any
line fails. Then its events after the head are replayed in batches, each one transaction
holding what the batch re-applies and the batch's events themselves (so no deletion exists
without its audit record, and a replay stopped half-way goes on from where it stopped):
purged leads deleted, erased leads erased, requests (the suppression entries among them),
holds and runs put back, requests' statuses as the journal says (domain/replay_plan.py), then
the events inserted with their own ids and hashes. Afterwards the residue is cleaned and the
new head published (the anchor file, and the journal sync, which finds nothing to write).

Requests received after the backup and still open are put back as rows with their keyed hash
only: the erasure job carries out an email or phone request by that hash. A lead-id request
it cannot carry out without the lead id, which the journal does not hold: those are not put
back but reported (`requests_to_retake`), for the DPO to take again.

A dry run checks and replays in one transaction that is rolled back: it counts what the real
replay would do and changes nothing. Replay appends no event of its own.

An observer is told of each batch committed (job `replay`, `rows` its events, `due` all the
events to restore) and of the phases `check` (the whole journal checked), `work` (the
batches) and `residue`. Each next batch is read, checked and planned on a thread while the
current one's transaction runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine

from retention.config import Settings
from retention.domain.audit_chain import EventDraft
from retention.domain.erasure import ErasedFields
from retention.domain.journal_entries import JournalEvent
from retention.domain.replay_plan import BatchPlan, plan_batch
from retention.errors import JournalError
from retention.services.audit import Published, publish_head
from retention.services.erasure_batch import erase_leads
from retention.services.observer import BatchStats, RunObserver
from retention.services.replay_check import Entry, JournalCheck, JournalWalk, check_journal
from retention.services.residue import ERASURE_TABLES, clean_after
from retention.storage.audit import ChainHead, event_hashes, insert_sealed_events, read_head
from retention.storage.dialect import chunks
from retention.storage.due_leads import delete_leads
from retention.storage.engine import READ_ONLY
from retention.storage.journal_rows import (
    advance_id_sequences,
    existing_ids,
    finish_runs,
    insert_holds,
    insert_requests,
    insert_runs,
    release_holds,
    set_request_states,
)
from retention.storage.residue import ResidueReport
from retention.storage.schema import erasure_requests, job_runs, legal_holds
from retention.storage.suppression import add_leads_erased

__all__ = ["REPLAY_BATCH", "ReplayResult", "replay_journal"]

logger = logging.getLogger(__name__)

REPLAY_BATCH = 5000  # events per transaction


@dataclass(slots=True)
class _Counts:
    events: int = 0
    purged: int = 0
    erased: int = 0
    suppressions: int = 0  # email and phone requests put back
    requests: int = 0  # requests put back, of every kind
    holds: int = 0  # holds put back or released
    batches: int = 0


@dataclass(frozen=True, slots=True)
class ReplayResult:
    dry_run: bool
    events_restored: int  # events after the database's head (a dry run: that would be)
    purged: int  # leads deleted again
    erased: int  # leads erased again
    suppressions: int  # email and phone requests put back (their keyed hashes)
    holds: int  # holds put back, or released again
    requests_restored: int  # requests put back, of every kind
    requests_to_retake: tuple[int, ...]  # see the module docstring
    head: ChainHead  # the database's head after the replay (a dry run: before it)
    journal_last: ChainHead | None  # the journal's last event
    published: Published | None = None  # None: a dry run, or nothing restored
    residue: ResidueReport | None = None
    batches: int = 0


def _checked(engine: Engine, path: Path) -> JournalCheck:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        head = read_head(conn)
    try:
        check = check_journal(path, head)
    except JournalError as exc:
        raise JournalError(f"{exc}; nothing was replayed") from None
    last = check.last
    if last is not None and last.event_id < (head.event_id or 0):
        # The journal ends before the head: the database must hold its last event.
        with engine.connect().execution_options(**READ_ONLY) as conn:
            stored = event_hashes(conn, [last.event_id]).get(last.event_id)
        if stored != last.hash:
            raise JournalError(
                f"{path}: its last event {last.event_id} is not the database's event "
                f"{last.event_id} (another hash): this journal does not continue the "
                "database's chain (another store's journal); nothing was replayed"
            )
    return check


def replay_journal(
    settings: Settings,
    engine: Engine,
    path: Path,
    *,
    now: datetime,
    dry_run: bool = False,
    observer: RunObserver | None = None,
    batch_size: int = REPLAY_BATCH,
) -> ReplayResult:
    """Check the journal at `path` against the database, then (unless `dry_run`) replay what
    it holds past the database's chain head; see the module docstring."""
    started = time.perf_counter()
    check = _checked(engine, path)
    if observer is not None:
        observer.phase_done("replay", "check", time.perf_counter() - started)
    last = ChainHead(check.last.event_id, check.last.hash) if check.last else None
    counts = _Counts()
    if check.events == 0:
        logger.info("replay: the journal holds no event after the database's head %s", check.head)
        return _result(check, counts, dry_run, check.head, last)
    walk = JournalWalk(path, check.head, check.start)
    batches = _read_ahead(_batches(walk.events(), batch_size, frozenset(check.to_retake)))
    if dry_run:
        with engine.connect() as conn, conn.begin() as transaction:
            for batch in batches:
                _replay(conn, batch, counts, dry_run=True)
                _tell(observer, counts, len(batch.events), batch_size, check.events, 0.0)
            transaction.rollback()
        return _result(check, counts, True, check.head, last)
    head = check.head
    work = time.perf_counter()
    for batch in batches:
        started = time.perf_counter()
        with engine.begin() as conn:
            head = _replay(conn, batch, counts, dry_run=False, retake=check.to_retake)
        seconds = time.perf_counter() - started
        _tell(observer, counts, len(batch.events), batch_size, check.events, seconds)
    if observer is not None:
        observer.phase_done("replay", "work", time.perf_counter() - work)
    started = time.perf_counter()
    changed = bool(counts.purged or counts.erased or counts.requests)
    residue = clean_after(engine, ERASURE_TABLES, changed=changed, vacuum=settings.erasure.vacuum)
    if observer is not None:
        observer.phase_done("replay", "residue", time.perf_counter() - started)
    published = publish_head(settings, engine, head, source="replay", run_id=None, when=now)
    logger.info(
        "replay: %d events restored (%d leads purged, %d erased, %d suppression entries, "
        "%d holds) in %d batches; %d requests to take again",
        counts.events, counts.purged, counts.erased, counts.suppressions, counts.holds,
        counts.batches, len(check.to_retake),
    )  # fmt: skip
    return _result(check, counts, False, head, last, published, residue)


def _result(
    check: JournalCheck, counts: _Counts, dry_run: bool, head: ChainHead,
    last: ChainHead | None, published: Published | None = None,
    residue: ResidueReport | None = None,
) -> ReplayResult:  # fmt: skip
    return ReplayResult(
        dry_run=dry_run, events_restored=counts.events, purged=counts.purged,
        erased=counts.erased, suppressions=counts.suppressions, holds=counts.holds,
        requests_restored=counts.requests, requests_to_retake=check.to_retake, head=head,
        journal_last=last, published=published, residue=residue, batches=counts.batches,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Batch:
    events: list[tuple[int, EventDraft, str, str]]  # as audit_events holds them
    plan: BatchPlan


def _batches(
    events: Iterator[tuple[JournalEvent, list[Entry]]], size: int, skip: frozenset[int]
) -> Iterator[_Batch]:
    while chunk := list(islice(events, size)):
        sealed = [(event.id, event.draft, event.prev_hash, event.hash) for event, _ in chunk]
        yield _Batch(sealed, plan_batch(chunk, skip_requests=skip))


_T = TypeVar("_T")


def _read_ahead(items: Iterator[_T]) -> Iterator[_T]:
    """`items`, each next one read (the journal parsed, checked, planned) on a thread while
    the caller's transaction works on this one: the parsing waits less for the database."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-reader") as reader:
        upcoming = reader.submit(next, items, None)
        while (item := upcoming.result()) is not None:
            upcoming = reader.submit(next, items, None)
            yield item


def _replay(
    conn: Connection, batch: _Batch, counts: _Counts, *, dry_run: bool, retake: Sequence[int] = ()
) -> ChainHead:
    """Re-apply one batch and insert its events, in the caller's transaction."""
    plan = batch.plan
    _restore_rows(conn, plan, counts)
    for erasure in plan.erasures:
        done = erase_leads(
            conn, erasure.lead_ids, ErasedFields(erasure.fields), now=erasure.erased_at
        )
        if done.busy:
            raise JournalError(
                f"lead {done.busy[0]} is being written by another transaction: stop the "
                "other processes using this store and run replay again"
            )
        counts.erased += len(done.erased)
    for chunk in chunks(plan.purged):
        counts.purged += delete_leads(conn, chunk)
    try:
        head = insert_sealed_events(conn, batch.events)
    except ValueError as exc:
        raise JournalError(
            f"the database's chain head moved while replaying ({exc}): another process "
            "appended events; stop it and run replay again"
        ) from None
    if not dry_run:
        largest = dict(plan.largest_ids)
        if retake:  # their ids are in the chain: never handed out again
            top = max(retake)
            largest["erasure_requests"] = max(largest.get("erasure_requests", 0), top)
        advance_id_sequences(conn, largest)
    counts.events += len(batch.events)
    counts.batches += 1
    return head


def _restore_rows(conn: Connection, plan: BatchPlan, counts: _Counts) -> None:
    """Requests, holds and runs the database lacks, then their later states."""
    known = existing_ids(conn, erasure_requests, {e.request_id for e in plan.requests})
    missing = [e for e in plan.requests if e.request_id not in known]
    insert_requests(conn, missing)
    counts.requests += len(missing)
    counts.suppressions += sum(1 for e in missing if e.kind in ("email", "phone"))
    known = existing_ids(conn, legal_holds, {e.hold_id for e in plan.holds})
    holds = [e for e in plan.holds if e.hold_id not in known]
    insert_holds(conn, holds)
    known = existing_ids(conn, job_runs, {r.run_id for r in plan.runs_started})
    insert_runs(conn, [r for r in plan.runs_started if r.run_id not in known])
    set_request_states(conn, plan.request_states)
    add_leads_erased(conn, plan.leads_erased_added)
    counts.holds += len(holds) + release_holds(conn, plan.releases)
    finish_runs(conn, plan.runs_finished)


def _tell(
    observer: RunObserver | None, counts: _Counts, rows: int, size: int, total: int,
    seconds: float,
) -> None:  # fmt: skip
    if observer is not None:
        observer.batch_done(
            BatchStats(
                job="replay", batch=counts.batches, seconds=seconds, size=size,
                rows=rows, held=0, requests=0, total_rows=counts.events,
                total_held=0, total_requests=0, due=total,
            )
        )  # fmt: skip

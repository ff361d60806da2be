"""`retention purge`: delete every lead the retention policy says is due, in batches.

Each batch is one transaction: the leads are deleted (their subject hashes with them) and one
`lead.purged` event per lead, naming the rule, is appended to the audit chain; held leads are
left alone with one `lead.hold_skipped` event each. A crash loses at most the batch in flight,
which rolls back whole and is done by the next run.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import Engine

from retention.config import Settings
from retention.domain.audit_chain import EventDraft
from retention.domain.events import LeadHoldSkipped, LeadPurged, purged_details_text
from retention.domain.policy import (
    RULES,
    Cutoffs,
    RetentionPolicy,
    check_blast_radius,
    check_clock,
)
from retention.errors import GuardError
from retention.services.observer import BatchStats, RunObserver
from retention.services.policy import policy_of
from retention.storage.audit import append_events
from retention.storage.dialect import default_purge_batch
from retention.storage.due_leads import (
    DueCounts,
    DueLead,
    Walk,
    count_due,
    delete_due_batch,
    delete_leads,
    has_due_leads,
    select_due_batch,
    store_size,
    walks,
)
from retention.storage.engine import READ_ONLY
from retention.storage.holds import active_holds_exist
from retention.storage.runs import newest_recorded_time

__all__ = ["PurgeOptions", "PurgeResult", "purge_due_leads", "purge_has_work"]


class PurgeOptions(TypedDict, total=False):
    """What a purge run may be told beyond the config."""

    force: bool  # run even if the blast-radius guard or the clock check refuses
    batch_size: int | None  # leads per transaction instead of purge.batch_size
    limit: int | None  # delete at most this many leads


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """What a purge run did (or, in a dry run, would do)."""

    dry_run: bool
    deleted: int
    hold_skipped: int
    batches: int
    by_rule: dict[str, int]
    due_at_start: int
    sample_lead_ids: tuple[str, ...]
    stopped: bool = False
    longest_batch_seconds: float = 0.0


logger = logging.getLogger(__name__)

SAMPLE_SIZE = 10
# From this share of the store due on, a run walks the table in storage order rather than the
# rule indexes (see storage/due_leads.py).
STORAGE_WALK_SHARE = 0.05


@dataclass(slots=True)
class _Tally:
    deleted: int = 0
    hold_skipped: int = 0
    batches: int = 0
    by_rule: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    sample: list[str] = field(default_factory=list)
    longest: float = 0.0


def _check_guards(
    counts: DueCounts, policy: RetentionPolicy, now: datetime, newest: datetime | None
) -> None:
    clock = check_clock(now, newest, policy)
    if not clock.allowed:
        raise GuardError(
            f"purge refused by the clock check: {clock.reason}. Nothing was deleted. Check "
            "the system clock (NTP) first; if the clock is right and the recorded time was "
            "wrong, run `retention purge --force` once"
        )
    guard = check_blast_radius(counts.due - counts.held, counts.total or 0, policy)
    if not guard.allowed:
        raise GuardError(
            f"purge refused by the blast-radius guard: {guard.reason}. Nothing was deleted. "
            "Check the system clock and the last import first; if this is expected (the first "
            "run on an old store, or after a long pause), run `retention purge --force` once"
        )


def _purge_batch(
    engine: Engine,
    walk: Walk,
    *,
    now: datetime,
    after: tuple[Any, ...] | None,
    limit: int,
    run_id: int | None,
    skip_locked: bool,
    skips_audited: set[str],
) -> tuple[list[DueLead], int]:
    """One batch in one transaction: (leads met, in walk order; how many were deleted). A held
    lead's skip is audited once per run: not again when its id is in `skips_audited` (a walk
    after the storage-order walk meets it again); audited ones are added after the commit."""
    with engine.begin() as conn:
        if active_holds_exist(conn, now):
            # Look first, then delete what is not held.
            batch = select_due_batch(conn, walk, now=now, after=after, limit=limit, holds=True)
            doomed = [lead.lead_id for lead in batch if not lead.held]
            deleted = delete_leads(conn, doomed)
            if deleted != len(doomed):
                raise RuntimeError(f"batch deleted {deleted} of {len(doomed)} locked leads")
        else:
            # Nothing is held: choose and delete in one statement.
            batch = delete_due_batch(
                conn, walk, now=now, after=after, limit=limit, skip_locked=skip_locked
            )
            deleted = len(batch)
        if not batch:
            return batch, 0
        # The hot path: one event per lead, its details built directly (events.LeadPurged;
        # a held lead's LeadHoldSkipped by the purge carries the same fields).
        append_events(
            conn,
            [
                EventDraft(
                    now,
                    LeadHoldSkipped.ACTION if lead.held else LeadPurged.ACTION,
                    purged_details_text(lead.category, lead.portal, lead.rule),
                    lead.lead_id,
                    run_id,
                    None,
                    lead.category,
                    lead.portal,
                    lead.rule,
                    "purge" if lead.held else None,
                )
                for lead in batch
                if not (lead.held and lead.lead_id in skips_audited)
            ],
        )
    skips_audited.update(lead.lead_id for lead in batch if lead.held)
    return batch, deleted


def purge_has_work(settings: Settings, engine: Engine, *, now: datetime) -> bool:
    """Whether a purge run at `now` would delete anything: an index probe per rule, no count,
    no lock, nothing written (a held lead does not count: it stays)."""
    cutoffs = policy_of(settings).cutoffs(now)
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return has_due_leads(conn, cutoffs=cutoffs, holds=active_holds_exist(conn, now))


def purge_due_leads(
    settings: Settings, engine: Engine, *, now: datetime, run_id: int | None,
    dry_run: bool = False, observer: RunObserver | None = None,
    should_stop: Callable[[], bool] | None = None, **options: Unpack[PurgeOptions],
) -> PurgeResult:  # fmt: skip
    """Delete the due leads (see the module docstring). Raises GuardError before deleting
    anything when the guard or the clock check refuses and `force` is not given. `observer`
    is told of each batch committed."""
    force, limit = options.get("force", False), options.get("limit")
    policy = policy_of(settings)
    cutoffs = policy.cutoffs(now)
    size = options.get("batch_size") or settings.purge.batch_size or default_purge_batch(engine)
    with engine.connect().execution_options(**READ_ONLY) as conn:
        holds = active_holds_exist(conn, now)
        counts = count_due(conn, cutoffs=cutoffs, holds=holds)
        if counts.due > min(policy.guard_max_leads, size):
            # Only then do the guard's share and the walk's order depend on the store's size.
            counts = dataclasses.replace(counts, total=store_size(conn))
        newest = None if force else newest_recorded_time(conn, exclude_run=run_id)
    if not force:
        _check_guards(counts, policy, now, newest)
    if dry_run:
        return _dry_run(engine, counts, cutoffs, limit=limit, holds=holds, batch_size=size)

    tally = _Tally()
    skips_audited: set[str] = set()
    stopped = False
    in_storage_order = _in_storage_order(counts, size)
    for walk in walks(cutoffs, in_storage_order=in_storage_order):
        after: tuple[Any, ...] | None = None
        while True:
            if should_stop is not None and should_stop():
                stopped = True
                break
            room = size if limit is None else min(size, limit - tally.deleted)
            if room <= 0:
                break
            started = time.perf_counter()
            held_before = len(skips_audited)
            batch, deleted = _purge_batch(
                engine, walk, now=now, after=after, limit=room, run_id=run_id,
                skip_locked=settings.purge.workers > 1, skips_audited=skips_audited,
            )  # fmt: skip
            if not batch:
                break
            seconds = time.perf_counter() - started
            tally.longest = max(tally.longest, seconds)
            after = batch[-1].key
            tally.batches += 1
            tally.deleted += deleted
            tally.hold_skipped += len(skips_audited) - held_before
            for lead in batch:
                if not lead.held:
                    tally.by_rule[lead.rule] += 1
                    if len(tally.sample) < SAMPLE_SIZE:
                        tally.sample.append(lead.lead_id)
            logger.debug(
                "batch %d: %d leads purged, %d held", tally.batches, deleted, len(batch) - deleted
            )
            if observer is not None:
                observer.batch_done(
                    BatchStats(
                        job="purge", batch=tally.batches, seconds=seconds, size=size,
                        rows=deleted, held=len(skips_audited) - held_before, requests=0,
                        total_rows=tally.deleted, total_held=tally.hold_skipped,
                        total_requests=0, due=counts.due,
                    )
                )  # fmt: skip
        if stopped:
            break
    return PurgeResult(
        dry_run=False,
        deleted=tally.deleted,
        hold_skipped=tally.hold_skipped,
        batches=tally.batches,
        by_rule=tally.by_rule,
        due_at_start=counts.due,
        sample_lead_ids=tuple(tally.sample),
        stopped=stopped,
        longest_batch_seconds=tally.longest,
    )


def _dry_run(
    engine: Engine,
    counts: DueCounts,
    cutoffs: Cutoffs,
    *,
    limit: int | None,
    holds: bool,
    batch_size: int,
) -> PurgeResult:
    """What a real run would do, from counts and a first batch; nothing is locked or changed.
    `by_rule` and `deleted` count the leads that would go (held ones are in `hold_skipped`),
    taken by rule in the order the run walks them (ttl, then ceiling) when `limit` cuts in."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        sample: list[str] = []
        for walk in walks(cutoffs, in_storage_order=False):
            for lead in select_due_batch(
                conn,
                walk,
                now=cutoffs.ttl,
                after=None,
                limit=SAMPLE_SIZE * 2,
                holds=holds,
                lock=False,
            ):
                if not lead.held and len(sample) < SAMPLE_SIZE:
                    sample.append(lead.lead_id)
    room = counts.due if limit is None else limit
    by_ttl = min(room, counts.ttl - counts.held_ttl)
    by_ceiling = min(room - by_ttl, counts.ceiling - counts.held_ceiling)
    # Batches hold the held leads they meet too. A storage-order run walks every due lead
    # once, then the rule walks meet the held ones again.
    if _in_storage_order(counts, batch_size):
        batches = -(-min(counts.due, by_ttl + by_ceiling + counts.held) // batch_size)
        batches += -(-counts.held_ttl // batch_size) - (-counts.held_ceiling // batch_size)
    else:
        met_ttl = min(counts.ttl, by_ttl + counts.held_ttl)
        met_ceiling = min(counts.ceiling, by_ceiling + counts.held_ceiling) if by_ceiling else 0
        batches = -(-met_ttl // batch_size) - (-met_ceiling // batch_size)
    return PurgeResult(
        dry_run=True,
        deleted=by_ttl + by_ceiling,
        hold_skipped=counts.held,
        batches=batches,
        by_rule={"ttl": by_ttl, "ceiling": by_ceiling},
        due_at_start=counts.due,
        sample_lead_ids=tuple(sample),
    )


def _in_storage_order(counts: DueCounts, batch_size: int) -> bool:
    """Whether a run walks the table in storage order rather than the rule indexes."""
    if counts.total is None:  # not counted: few leads are due
        return False
    return counts.due >= STORAGE_WALK_SHARE * counts.total and counts.due > batch_size

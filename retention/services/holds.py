"""Legal holds: a held lead is neither purged nor erased until the hold is released."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Unpack

from sqlalchemy import Engine

from retention.config import Settings
from retention.domain.events import HoldPlaced, HoldReleased
from retention.errors import InputError
from retention.services.audit import Published, publish_head
from retention.services.journal import refuse_if_restored
from retention.services.subjects import SubjectArgs, subject_of
from retention.storage.audit import append_events
from retention.storage.engine import READ_ONLY, transaction
from retention.storage.holds import HoldRow, insert_hold, list_holds, release_hold
from retention.storage.leads import existing_lead_ids

__all__ = ["HoldPlacement", "HoldRelease", "all_holds", "place_hold", "release_hold_by_id"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HoldPlacement:
    hold_id: int | None  # None in a dry run
    dry_run: bool
    # A hold on a lead id: whether that lead is in the store now (None for a subject hold). A
    # hold on a lead not imported yet applies once it arrives.
    lead_in_store: bool | None
    published: Published | None = None


@dataclass(frozen=True, slots=True)
class HoldRelease:
    hold: HoldRow
    changed: bool  # False: it was released already, nothing changed
    dry_run: bool
    published: Published | None = None


def place_hold(
    settings: Settings, engine: Engine, *, reason: str, now: datetime,
    until: datetime | None = None, dry_run: bool = False, **given: Unpack[SubjectArgs],
) -> HoldPlacement:  # fmt: skip
    """Record a hold on a lead or a subject, with its `hold.placed` audit event. A dry run
    checks everything and records nothing."""
    if not reason.strip():
        raise InputError("--reason: a hold needs a reason")
    if until is not None and until <= now:
        raise InputError("--until: must be in the future")
    refuse_if_restored(settings, engine)
    with transaction(engine, dry_run=dry_run) as conn:
        subject = subject_of(settings, conn, **given)
        present = bool(existing_lead_ids(conn, [subject.lead_id])) if subject.lead_id else None
        if present is False:
            logger.warning(
                "lead %s is not in the store: the hold applies to it once it is imported",
                subject.lead_id,
            )
        if dry_run:
            return HoldPlacement(None, True, present)
        hold_id = insert_hold(
            conn,
            lead_id=subject.lead_id,
            subject=(subject.kind, subject.hash) if subject.hash is not None else None,
            reason=reason.strip(),
            created_at=now,
            expires_at=until,
        )
        placed = HoldPlaced(hold_id, subject.kind, until)
        head = append_events(conn, [placed.draft(now, lead_id=subject.lead_id)])
    published = publish_head(settings, engine, head, source="hold place", run_id=None, when=now)
    return HoldPlacement(hold_id, False, present, published)


def release_hold_by_id(
    settings: Settings, engine: Engine, hold_id: int, *, now: datetime, dry_run: bool = False
) -> HoldRelease:
    """Release a hold, with its `hold.released` event. A hold released already is left as it
    is (changed False, no event); an unknown id is an input error. A dry run changes nothing."""
    refuse_if_restored(settings, engine)
    with transaction(engine, dry_run=dry_run) as conn:
        found = list_holds(conn, hold_id=hold_id)
        if not found:
            raise InputError(f"hold {hold_id}: no such hold")
        if found[0].released_at is not None or dry_run:
            return HoldRelease(found[0], found[0].released_at is None, dry_run)
        released = release_hold(conn, hold_id, now)
        if released is None:  # another transaction released it meanwhile (PostgreSQL)
            return HoldRelease(list_holds(conn, hold_id=hold_id)[0], False, False)
        head = append_events(conn, [HoldReleased(hold_id).draft(now, lead_id=released.lead_id)])
    published = publish_head(settings, engine, head, source="hold release", run_id=None, when=now)
    return HoldRelease(released, True, False, published)


def all_holds(engine: Engine) -> list[HoldRow]:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return list_holds(conn)

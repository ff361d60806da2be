"""Legal holds: a held lead is neither purged nor erased until the hold is released."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

from retention.config import Settings
from retention.domain.audit_chain import EventDraft, canonical_details
from retention.errors import InputError
from retention.services.subjects import subject_of
from retention.storage.audit import append_events
from retention.storage.engine import READ_ONLY
from retention.storage.holds import HoldRow, insert_hold, list_holds, release_hold

__all__ = ["all_holds", "place_hold", "release_hold_by_id"]


def place_hold(
    settings: Settings,
    engine: Engine,
    *,
    reason: str,
    now: datetime,
    until: datetime | None = None,
    lead_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    region: str | None = None,
) -> int:
    """Record a hold on a lead or a subject, with its `hold.placed` audit event."""
    if not reason.strip():
        raise InputError("--reason: a hold needs a reason")
    if until is not None and until <= now:
        raise InputError("--until: must be in the future")
    with engine.begin() as conn:
        subject = subject_of(
            settings, conn, email=email, phone=phone, lead_id=lead_id, region=region
        )
        hold_id = insert_hold(
            conn,
            lead_id=subject.lead_id,
            subject=(subject.kind, subject.hash) if subject.hash is not None else None,
            reason=reason.strip(),
            created_at=now,
            expires_at=until,
        )
        details = {
            "hold_id": hold_id,
            "target": subject.kind,
            "until": until.isoformat() if until else None,
        }
        append_events(
            conn,
            [EventDraft(now, "hold.placed", canonical_details(details), lead_id=subject.lead_id)],
        )
    return hold_id


def release_hold_by_id(engine: Engine, hold_id: int, *, now: datetime) -> HoldRow:
    with engine.begin() as conn:
        released = release_hold(conn, hold_id, now)
        if released is None:
            raise InputError(f"hold {hold_id}: no such active hold")
        details = canonical_details({"hold_id": hold_id})
        append_events(conn, [EventDraft(now, "hold.released", details, lead_id=released.lead_id)])
    return released


def all_holds(engine: Engine) -> list[HoldRow]:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return list_holds(conn)

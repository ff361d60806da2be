"""Legal holds: on a lead, or on a subject through its keyed hash."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, exists, func, or_, select, update

from retention.storage.dialect import insert_returning_id
from retention.storage.schema import lead_subjects, legal_holds

__all__ = [
    "HoldRow",
    "active_condition",
    "active_hold_count",
    "active_holds_exist",
    "hold_condition",
    "insert_hold",
    "list_holds",
    "release_hold",
]


@dataclass(frozen=True, slots=True)
class HoldRow:
    id: int
    lead_id: str | None
    subject_kind: str | None
    reason: str
    created_at: datetime
    expires_at: datetime | None
    released_at: datetime | None


def active_condition(now: datetime) -> ColumnElement[bool]:
    return and_(
        legal_holds.c.released_at.is_(None),
        or_(legal_holds.c.expires_at.is_(None), legal_holds.c.expires_at > now),
    )


def active_hold_count(conn: Connection, now: datetime) -> int:
    return int(conn.scalar(select(func.count()).where(active_condition(now))) or 0)


def active_holds_exist(conn: Connection, now: datetime) -> bool:
    return bool(conn.scalar(select(exists().where(active_condition(now)))))


def hold_condition(lead_id: ColumnElement[str], now: datetime) -> ColumnElement[bool]:
    """True for a lead held directly or through one of its subjects, at `now`."""
    direct = exists().where(legal_holds.c.lead_id == lead_id, active_condition(now))
    by_subject = exists().where(
        lead_subjects.c.lead_id == lead_id,
        legal_holds.c.subject_hash == lead_subjects.c.subject_hash,
        active_condition(now),
    )
    return or_(direct, by_subject)


def insert_hold(
    conn: Connection,
    *,
    lead_id: str | None,
    subject: tuple[str, bytes] | None,
    reason: str,
    created_at: datetime,
    expires_at: datetime | None,
) -> int:
    kind, digest = subject if subject else (None, None)
    values = {"lead_id": lead_id, "subject_kind": kind, "subject_hash": digest, "reason": reason,
              "created_at": created_at, "expires_at": expires_at}  # fmt: skip
    return insert_returning_id(conn, legal_holds, values)


def release_hold(conn: Connection, hold_id: int, released_at: datetime) -> HoldRow | None:
    """Release an active hold; None when there is no such hold or it was released already."""
    result = conn.execute(
        update(legal_holds)
        .where(legal_holds.c.id == hold_id, legal_holds.c.released_at.is_(None))
        .values(released_at=released_at)
    )
    if result.rowcount != 1:
        return None
    return list_holds(conn, hold_id=hold_id)[0]


def list_holds(conn: Connection, *, hold_id: int | None = None) -> list[HoldRow]:
    statement = select(
        legal_holds.c.id,
        legal_holds.c.lead_id,
        legal_holds.c.subject_kind,
        legal_holds.c.reason,
        legal_holds.c.created_at,
        legal_holds.c.expires_at,
        legal_holds.c.released_at,
    ).order_by(legal_holds.c.id)
    if hold_id is not None:
        statement = statement.where(legal_holds.c.id == hold_id)
    return [HoldRow(*row) for row in conn.execute(statement)]

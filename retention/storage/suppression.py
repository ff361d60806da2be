"""The suppression entries: every email and phone request's keyed hash stays after the request
completes, so that a lead of that subject imported later is erased on arrival. Imports read
them here (in memory when there are few, joined in the database otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, and_, bindparam, func, select, update

from retention.storage.dialect import ids_condition
from retention.storage.schema import erasure_requests, lead_subjects

__all__ = [
    "add_leads_erased",
    "recent_subject_requests",
    "subject_request_count",
    "subject_requests",
    "suppressing_requests",
]

_BY_SUBJECT = erasure_requests.c.kind.in_(("email", "phone"))


def subject_request_count(conn: Connection) -> int:
    """How many email and phone requests exist (requests are never deleted)."""
    return int(conn.scalar(select(func.count()).where(_BY_SUBJECT)) or 0)


def recent_subject_requests(
    conn: Connection, *, after_id: int, newest: int | None = None
) -> list[tuple[int, str, bytes]]:
    """(id, kind, hash) of the email and phone requests with an id above `after_id` (only
    the `newest` ones, when given)."""
    statement = (
        select(erasure_requests.c.id, erasure_requests.c.kind, erasure_requests.c.subject_hash)
        .where(_BY_SUBJECT, erasure_requests.c.id > after_id)
        .order_by(erasure_requests.c.id.desc())
    )
    if newest is not None:
        statement = statement.limit(newest)
    return [(int(i), kind, bytes(digest)) for i, kind, digest in conn.execute(statement).all()]


def add_leads_erased(conn: Connection, counts: Mapping[int, int]) -> None:
    """Count leads erased later for a request's subject (suppression) in the request."""
    if not counts:
        return
    conn.execute(
        update(erasure_requests)
        .where(erasure_requests.c.id == bindparam("request_id"))
        .values(leads_erased=erasure_requests.c.leads_erased + bindparam("more")),
        [{"request_id": request_id, "more": n} for request_id, n in sorted(counts.items())],
    )


def subject_requests(conn: Connection, *, limit: int) -> dict[tuple[str, bytes], int] | None:
    """Every email and phone request's (kind, hash) with its oldest request id: the
    suppression entries. None when there are more than `limit` of them."""
    if subject_request_count(conn) > limit:
        return None
    rows = conn.execute(
        select(
            erasure_requests.c.kind,
            erasure_requests.c.subject_hash,
            func.min(erasure_requests.c.id),
        )
        .where(_BY_SUBJECT)
        .group_by(erasure_requests.c.kind, erasure_requests.c.subject_hash)
    ).all()
    return {(kind, bytes(digest)): int(request_id) for kind, digest, request_id in rows}


def suppressing_requests(
    conn: Connection, lead_ids: Sequence[str], *, after_id: int = 0
) -> dict[str, int]:
    """Those of `lead_ids` whose email or phone belongs to a subject that asked for erasure
    (in a request newer than `after_id`), each with the oldest such request."""
    if not lead_ids:
        return {}
    rows = conn.execute(
        select(lead_subjects.c.lead_id, func.min(erasure_requests.c.id))
        .join_from(
            lead_subjects,
            erasure_requests,
            and_(
                erasure_requests.c.subject_hash == lead_subjects.c.subject_hash,
                erasure_requests.c.kind == lead_subjects.c.kind,
            ),
        )
        .where(
            ids_condition(conn, lead_subjects.c.lead_id, lead_ids),
            erasure_requests.c.id > after_id,
        )
        .group_by(lead_subjects.c.lead_id)
    )
    return {lead_id: int(request_id) for lead_id, request_id in rows}

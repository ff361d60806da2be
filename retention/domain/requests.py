"""The lifecycle of an erasure request: its kinds and sources, its statuses and how one leads
to the next, and its deadline.

    pending --(every lead erased)----------------------------------> completed
    pending --(a lead held)--> deferred --(hold released, erased)---> completed
    pending --(verification failed)--> failed --(retried at every run)--> ...

A request whose lead another transaction is writing keeps its status (a failed one goes back
to pending) and is taken up again later. `completed` is final: the clear identifier is dropped
and the keyed hash stays as the suppression entry.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum

__all__ = [
    "OPEN_STATUSES",
    "REQUEST_KINDS",
    "REQUEST_SOURCES",
    "REQUEST_STATUSES",
    "TRANSITIONS",
    "RequestStatus",
    "due_date",
    "status_after",
]

REQUEST_KINDS = ("email", "phone", "lead_id")
# cli: `retention erase` or `requests add`; file: `requests import`; upstream: a lead the API
# delivered erased; import: a suppressed subject's lead that arrived under a hold.
REQUEST_SOURCES = ("cli", "file", "upstream", "import")


class RequestStatus(StrEnum):
    PENDING = "pending"
    DEFERRED = "deferred"
    COMPLETED = "completed"
    FAILED = "failed"


REQUEST_STATUSES = tuple(status.value for status in RequestStatus)
# The statuses the erasure job takes up: new requests, those waiting for a hold, and failed
# ones (retried at every run until they succeed, so a failure keeps paging the operator).
OPEN_STATUSES = (RequestStatus.PENDING, RequestStatus.DEFERRED, RequestStatus.FAILED)
TRANSITIONS: Mapping[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.PENDING: frozenset(RequestStatus),
    RequestStatus.DEFERRED: frozenset(RequestStatus),
    RequestStatus.FAILED: frozenset(RequestStatus),
    RequestStatus.COMPLETED: frozenset(),
}


def status_after(current: str, *, held: bool, busy: bool) -> RequestStatus:
    """A request's status once a pass has erased what it could: `busy` (a lead another
    transaction held) keeps it open as it was (failed becomes pending: it is being worked
    on); otherwise deferred while a lead is held, else completed."""
    was = RequestStatus(current)
    if busy:
        following = RequestStatus.PENDING if was is RequestStatus.FAILED else was
    else:
        following = RequestStatus.DEFERRED if held else RequestStatus.COMPLETED
    if following not in TRANSITIONS[was]:
        raise ValueError(f"a {was} request cannot become {following}")
    return following


def due_date(received: datetime) -> datetime:
    """The end (23:59:59 UTC) of the day one calendar month after `received`, clamped to the
    last day of that month: a request received on 31 January is due through 28 or 29
    February, and is not overdue at any time of its due day."""
    received = received.astimezone(UTC)
    year, month = (
        (received.year + 1, 1) if received.month == 12 else (received.year, received.month + 1)
    )
    day = min(received.day, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, 23, 59, 59, tzinfo=UTC)

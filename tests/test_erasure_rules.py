"""Pure erasure rules: the request's deadline, what an upstream-erased lead looks like."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from retention.domain.erasure import looks_erased_upstream
from retention.domain.requests import due_date


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-01-15T09:30:00", "2026-02-15"),
        ("2026-01-31T23:00:00", "2026-02-28"),
        ("2028-01-31T10:00:00", "2028-02-29"),  # leap year
        ("2026-03-31T00:00:00", "2026-04-30"),
        ("2026-12-31T12:00:00", "2027-01-31"),
        ("2026-02-28T08:00:00", "2026-03-28"),
        ("2026-05-31T23:30:00-02:00", "2026-07-01"),  # 1 June 01:30 UTC
    ],
)
def test_due_through_the_end_of_the_day_one_calendar_month_later_clamped(
    received: str, due: str
) -> None:
    moment = datetime.fromisoformat(received)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    assert due_date(moment) == datetime.fromisoformat(f"{due}T23:59:59+00:00")


ERASED: dict[str, Any] = {
    "firstName": None, "lastName": None, "gender": None, "language": None, "message": None,
    "email": "left.by.upstream@example.com", "phoneNumbers": [],
}  # fmt: skip


def test_the_upstream_erasure_shape_is_recognised_email_or_not() -> None:
    assert looks_erased_upstream(ERASED)
    assert looks_erased_upstream({**ERASED, "email": None, "isOwner": True})
    assert looks_erased_upstream({"message": None, "phoneNumbers": []})
    assert not looks_erased_upstream({k: v for k, v in ERASED.items() if k != "phoneNumbers"})


@pytest.mark.parametrize(
    "change",
    [
        {"firstName": "Jeanne"},
        {"message": "Bonjour"},
        {"phoneNumbers": [{"number": "+33600000001"}]},
        {"phoneNumbers": None},
        {"name": "Jeanne Exemple"},
    ],
)
def test_a_lead_with_any_contact_data_is_not_upstream_erased(change: dict[str, object]) -> None:
    assert not looks_erased_upstream({**ERASED, **change})

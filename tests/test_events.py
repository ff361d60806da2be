"""The audit actions: one definition each, read back by the parser; the purge's fast path
writes exactly what the definition does."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from retention.domain.audit_chain import canonical_details
from retention.domain.events import (
    ACTIONS,
    EventDetails,
    HoldPlaced,
    HoldReleased,
    LeadErased,
    LeadHoldSkipped,
    LeadPurged,
    RequestCompleted,
    RequestDeferred,
    RequestFailed,
    RequestReceived,
    RunFinished,
    RunStarted,
    parse_details,
    purged_details_text,
)
from retention.domain.lead import CATEGORIES, PORTALS
from retention.domain.policy import RULES

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

SPEC_ACTIONS = {
    "lead.purged", "lead.erased", "lead.hold_skipped", "request.received", "request.completed",
    "request.failed", "hold.placed", "hold.released", "run.started", "run.finished",
}  # fmt: skip
EXAMPLES: list[EventDetails] = [
    LeadPurged("AGENCY", "SLG-FRA", "ttl"),
    LeadErased("CLASSIFIED", "IWB-BEL", ("firstName", "email"), "suppression"),
    LeadHoldSkipped("purge", "PROPERTY_SEARCH", "IWT-AUT", "ceiling"),
    LeadHoldSkipped("erasure"),
    LeadHoldSkipped("import"),
    RequestReceived("email", "file", NOW),
    RequestCompleted(held=0, leads_erased=3),
    RequestCompleted(held=0, leads_erased=0, from_request=7),
    RequestDeferred(held=1, leads_erased=2),
    RequestFailed(leads=2, reason="verification"),
    HoldPlaced(4, "lead_id", None),
    HoldPlaced(5, "email", NOW),
    HoldReleased(4),
    RunStarted("purge"),
    RunFinished("erasure", "succeeded", {"requests": 2, "residue": None}),
    RunFinished("purge", "failed", {}, closed_by_run=9),
]


def test_actions_are_the_specs_and_request_deferred() -> None:
    assert set(ACTIONS) == SPEC_ACTIONS | {"request.deferred"}
    assert {type(example).ACTION for example in EXAMPLES} == set(ACTIONS)


@pytest.mark.parametrize("details", EXAMPLES, ids=lambda d: f"{d.ACTION}-{id(d) % 997}")
def test_every_action_reads_back_as_written(details: EventDetails) -> None:
    draft = details.draft(NOW, lead_id="lead-1", run_id=3, request_id=None)
    assert (draft.action, draft.occurred_at, draft.lead_id, draft.run_id) == (
        details.ACTION, NOW, "lead-1", 3,
    )  # fmt: skip
    assert draft.details == canonical_details(details.as_dict())
    assert parse_details(draft.action, draft.details) == details


def test_the_purges_fast_path_writes_the_canonical_details() -> None:
    for category, portal, rule in itertools.product(CATEGORIES, PORTALS, RULES):
        expected = canonical_details({"category": category, "portal": portal, "rule": rule})
        assert purged_details_text(category, portal, rule) == expected
        assert LeadPurged(category, portal, rule).text() == expected
        assert LeadHoldSkipped("purge", category, portal, rule).text() == expected


@pytest.mark.parametrize(
    ("action", "details"),
    [("lead.teleported", "{}"), ("lead.purged", '{"category":"AGENCY"}'), ("hold.placed", "[]")],
)
def test_unknown_actions_and_wrong_shapes_are_refused(action: str, details: str) -> None:
    with pytest.raises(ValueError, match=r"unknown audit action|not its shape"):
        parse_details(action, details)


def test_every_event_a_store_holds_is_one_of_them(tmp_path: Path) -> None:
    """The demo runs every writer (import, holds, purge, erasure, requests, suppression):
    each event it wrote parses as its action's details."""
    from retention.config import load_settings
    from retention.storage.engine import create_store_engine
    from retention.storage.schema import audit_events
    from tests.cli_helpers import run

    path = tmp_path / "demo.db"
    assert run(["demo", "--path", str(path), "--leads", "300"], {}).exit_code == 0
    engine = create_store_engine(load_settings(environ={"RETENTION_DATABASE_URL":
                                                        f"sqlite:///{path}"}).database)  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(select(audit_events.c.action, audit_events.c.details)).all()
    engine.dispose()
    assert {action for action, _ in rows} >= SPEC_ACTIONS - {"request.failed", "hold.released"}
    for action, details in rows:
        parse_details(action, details)

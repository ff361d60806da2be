"""The erased fields: only contactRequest fields, and never fewer than the upstream contract
erases, whatever a config says; the read-back checks those always (both databases)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select

from retention import clock
from retention.config import Settings
from retention.services.erasure import erase_subject
from retention.storage.engine import READ_ONLY
from retention.storage.schema import lead_subjects, leads
from tests.cli_helpers import run
from tests.factories import FROZEN_NOW_TEXT, fresh_lead, seed, snapshot


@pytest.fixture(autouse=True)
def _frozen(engine: Engine) -> Iterator[None]:
    with freeze_time(FROZEN_NOW_TEXT):
        yield


@pytest.mark.parametrize("fields", ['["shoeSize"]', '["firstname", "lastName"]'])
def test_a_field_list_naming_no_contact_field_stops_the_erasure(
    settings: Settings, engine: Engine, environ: dict[str, str], fields: str
) -> None:
    """Before, `["shoeSize"]` marked the leads erased and dropped their hashes while every
    name, email and message stayed: now the command stops before touching anything."""
    seed(settings, engine, [fresh_lead(1)])
    before = snapshot(engine)
    result = run(["erase", "--email", "seeker.1@example.com"],
                 {**environ, "RETENTION_ERASURE_FIELDS": fields})  # fmt: skip
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("error: config: erasure.fields: ") and "is not a contactRequest" in line
    assert snapshot(engine) == before


def test_the_read_back_checks_the_upstream_fields_whatever_the_policy_says(
    settings: Settings, engine: Engine
) -> None:
    """A policy that leaves names and the message in place (settings built in code, past the
    config check) does not pass the verification: the request fails, the lead is unchanged."""
    seed(settings, engine, [fresh_lead(1)])
    email_only = dataclasses.replace(
        settings, erasure=dataclasses.replace(settings.erasure, fields=("email",))
    )
    outcome = erase_subject(email_only, engine, now=clock.utcnow(), lead_id="lead-000001")
    assert outcome.status == "failed"
    assert outcome.error is not None and "lead-000001" in outcome.error
    with engine.connect().execution_options(**READ_ONLY) as conn:
        row = conn.execute(select(leads).where(leads.c.lead_id == "lead-000001")).one()
        hashes = conn.scalar(select(lead_subjects.c.lead_id).limit(1))
    assert row.erased_at is None and row.first_name == "Prenom1" and row.email is not None
    assert hashes == "lead-000001", "a failed erasure keeps the hashes that find the seeker"

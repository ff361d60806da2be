"""The retention rule has one source: domain/policy.py. The purge's SQL is built from it and
finds exactly the leads the rule says are due, under the same rule, at the boundaries
(-1 s, exactly, +1 s), on both databases; the import applies the same rule."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from retention.config import Settings
from retention.domain.policy import RULES, RetentionPolicy
from retention.storage.due_leads import due_condition
from retention.storage.engine import READ_ONLY
from retention.storage.schema import leads
from tests.factories import NOW, make_lead, seed

POLICY = RetentionPolicy(ceiling_years=3, guard_max_share=0.2, guard_max_leads=1000)
CUTOFFS = POLICY.cutoffs(NOW)
OFFSETS = (-1, 0, 1)


def test_the_cutoffs_are_now_and_three_calendar_years_before() -> None:
    assert CUTOFFS.ttl == NOW
    assert CUTOFFS.ceiling == datetime(2023, 1, 15, 12, 0, tzinfo=UTC)
    leap = POLICY.cutoffs(datetime(2028, 2, 29, 8, 0, tzinfo=UTC))
    assert leap.ceiling == datetime(2025, 2, 28, 8, 0, tzinfo=UTC)


def test_the_rule_at_its_boundaries() -> None:
    second = timedelta(seconds=1)
    far, old = NOW + timedelta(days=1), CUTOFFS.ceiling + timedelta(days=1)
    assert CUTOFFS.rule_of(NOW - second, old) == "ttl"
    assert CUTOFFS.rule_of(NOW, old) == "ttl"
    assert CUTOFFS.rule_of(NOW + second, old) is None
    assert CUTOFFS.rule_of(far, CUTOFFS.ceiling - second) == "ceiling"
    assert CUTOFFS.rule_of(far, CUTOFFS.ceiling) == "ceiling"
    assert CUTOFFS.rule_of(far, CUTOFFS.ceiling + second) is None
    assert CUTOFFS.rule_of(NOW, CUTOFFS.ceiling) == "ttl", "ttl first"


def test_the_sql_finds_what_the_rule_says(settings: Settings, engine: Engine) -> None:
    dates: dict[str, tuple[datetime, datetime]] = {}
    records = []
    for n, (ttl_offset, ingestion_offset) in enumerate(itertools.product(OFFSETS, OFFSETS), 1):
        ttl = NOW + timedelta(seconds=ttl_offset)
        ingested = CUTOFFS.ceiling + timedelta(seconds=ingestion_offset)
        lead = make_lead(n, TTL=int(ttl.timestamp()), ingestionDate=int(ingested.timestamp()))
        records.append(lead)
        dates[lead["metadata"]["leadId"]] = (ttl, ingested)
    # And leads far from both cut-offs, due by neither or by the TTL alone.
    for n, ttl_days in ((20, 400), (21, -400)):
        ttl = NOW + timedelta(days=ttl_days)
        ingested = NOW - timedelta(days=500)
        records.append(
            make_lead(n, TTL=int(ttl.timestamp()), ingestionDate=int(ingested.timestamp()))
        )
        dates[f"lead-{n:06d}"] = (ttl, ingested)
    seed(settings, engine, records, at=datetime(2022, 6, 1, tzinfo=UTC))
    expected: dict[str, set[str]] = {rule: set() for rule in RULES}
    for lead_id, (ttl, ingested) in dates.items():
        rule = CUTOFFS.rule_of(ttl, ingested)
        if rule is not None:
            expected[rule].add(lead_id)
    assert all(expected.values()), "each rule has due leads at its boundary"
    with engine.connect().execution_options(**READ_ONLY) as conn:
        for rule in RULES:
            found = set(conn.scalars(select(leads.c.lead_id).where(due_condition(CUTOFFS, rule))))
            assert found == expected[rule], rule

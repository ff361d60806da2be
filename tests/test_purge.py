"""The purge: policy boundaries, batches, holds, guard, audit events (both backends)."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select

from retention.config import Settings
from retention.errors import GuardError
from retention.services.holds import place_hold, release_hold_by_id
from retention.services.purge import PurgeResult, purge_due_leads
from retention.storage.runs import start_run
from retention.storage.schema import lead_subjects
from tests.factories import (
    NOW,
    NOW_TS,
    YEAR,
    audit_rows,
    due_lead,
    fresh_lead,
    lead_ids,
    make_lead,
    seed,
    snapshot,
)


def _purge(settings: Settings, engine: Engine, **options: object) -> PurgeResult:
    return purge_due_leads(settings, engine, now=NOW, run_id=None, **options)  # type: ignore[arg-type]


def _lenient(settings: Settings, **purge: object) -> Settings:
    """Settings whose guard does not get in the way of small test stores."""
    return dataclasses.replace(
        settings,
        retention=dataclasses.replace(settings.retention, guard_max_leads=10_000),
        purge=dataclasses.replace(settings.purge, **purge),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("offset", "deleted"),
    [(-1, 1), (0, 1), (1, 0)],
    ids=["ttl-1s-ago", "ttl-exactly-now", "ttl-in-1s"],
)
def test_ttl_boundary(settings: Settings, engine: Engine, offset: int, deleted: int) -> None:
    seed(settings, engine, [due_lead(1, ttl_offset=offset), fresh_lead(2)])
    result = _purge(settings, engine)
    assert (result.deleted, result.by_rule["ttl"]) == (deleted, deleted)
    assert ("lead-000001" in lead_ids(engine)) is (deleted == 0)
    assert "lead-000002" in lead_ids(engine)


@pytest.mark.parametrize(
    ("ingested_before_cutoff", "deleted"),
    [(1, 1), (0, 1), (-1, 0)],
    ids=["ingested-3y-and-1s-ago", "ingested-exactly-3y-ago", "ingested-3y-minus-1s-ago"],
)
def test_ceiling_deletes_leads_whose_ttl_is_too_far(
    settings: Settings, engine: Engine, ingested_before_cutoff: int, deleted: int
) -> None:
    three_years_ago = int(NOW.replace(year=NOW.year - 3).timestamp())
    lead = make_lead(
        1, ingestionDate=three_years_ago - ingested_before_cutoff, TTL=NOW_TS + 5 * YEAR
    )
    seed(settings, engine, [lead], at=NOW - timedelta(days=1))
    result = _purge(settings, engine)
    assert (result.deleted, result.by_rule["ceiling"], result.by_rule["ttl"]) == (
        deleted,
        deleted,
        0,
    )
    if deleted:
        (event,) = audit_rows(engine, "lead.purged")
        assert json.loads(event.details)["rule"] == "ceiling"


def test_every_deleted_lead_has_exactly_one_event_and_nothing_of_it_remains(
    settings: Settings, engine: Engine
) -> None:
    seed(settings, engine, [due_lead(n) for n in range(1, 8)] + [fresh_lead(100)])
    result = _purge(settings, engine, batch_size=3)
    assert (result.deleted, result.batches) == (7, 3)
    events = audit_rows(engine, "lead.purged")
    assert sorted(e.lead_id for e in events) == [f"lead-{n:06d}" for n in range(1, 8)]
    details = json.loads(events[0].details)
    assert details == {"category": "CLASSIFIED", "portal": "SLG-FRA", "rule": "ttl"}
    with engine.connect() as conn:
        assert set(conn.scalars(select(lead_subjects.c.lead_id))) == {"lead-000100"}
    assert lead_ids(engine) == {"lead-000100"}
    again = _purge(settings, engine)
    assert (again.deleted, again.batches) == (0, 0)


def test_limit_stops_after_that_many(settings: Settings, engine: Engine) -> None:
    seed(settings, engine, [due_lead(n) for n in range(1, 11)])
    assert _purge(_lenient(settings), engine, batch_size=3, limit=5).deleted == 5
    assert len(lead_ids(engine)) == 5


def test_dry_run_counts_and_changes_nothing(settings: Settings, engine: Engine) -> None:
    seed(settings, engine, [due_lead(n) for n in range(1, 5)] + [fresh_lead(9)])
    before = snapshot(engine)
    result = _purge(settings, engine, dry_run=True, batch_size=3)
    assert (result.dry_run, result.deleted, result.batches) == (True, 4, 2)
    assert set(result.sample_lead_ids) == {f"lead-{n:06d}" for n in range(1, 5)}
    assert snapshot(engine) == before


def test_held_leads_are_skipped_audited_and_purged_after_release(
    settings: Settings, engine: Engine
) -> None:
    seed(settings, engine, [due_lead(1), due_lead(2), due_lead(3)])
    by_lead = place_hold(settings, engine, reason="litigation 7", now=NOW, lead_id="lead-000001")
    place_hold(settings, engine, reason="dispute", now=NOW, email=" SEEKER.2@example.com ")
    first = _purge(settings, engine)
    assert (first.deleted, first.hold_skipped) == (1, 2)
    assert lead_ids(engine) == {"lead-000001", "lead-000002"}
    skipped = audit_rows(engine, "lead.hold_skipped")
    assert sorted(e.lead_id for e in skipped) == ["lead-000001", "lead-000002"]
    release_hold_by_id(settings, engine, by_lead.hold_id or 0, now=NOW)
    second = _purge(settings, engine)
    assert (second.deleted, second.hold_skipped) == (1, 1)
    assert lead_ids(engine) == {"lead-000002"}


def test_an_expired_hold_no_longer_holds(settings: Settings, engine: Engine) -> None:
    seed(settings, engine, [due_lead(1)])
    place_hold(
        settings, engine, reason="until yesterday", now=NOW - timedelta(days=3),
        until=NOW - timedelta(days=1), lead_id="lead-000001",
    )  # fmt: skip
    assert _purge(settings, engine).deleted == 1


def test_guard_refuses_a_large_share_and_force_overrides(
    settings: Settings, engine: Engine
) -> None:
    seed(
        settings, engine, [due_lead(n) for n in range(1, 7)] + [fresh_lead(n) for n in range(7, 11)]
    )
    strict = dataclasses.replace(
        settings, retention=dataclasses.replace(settings.retention, guard_max_leads=5)
    )
    before = snapshot(engine)
    with pytest.raises(GuardError) as refused:
        _purge(strict, engine)
    message = str(refused.value)
    assert "6 of 10 leads (60%)" in message and "--force" in message
    assert snapshot(engine) == before
    assert _purge(strict, engine, force=True).deleted == 6


def test_guard_allows_many_leads_when_they_are_a_small_share(
    settings: Settings, engine: Engine
) -> None:
    seed(
        settings, engine, [due_lead(n) for n in range(1, 4)] + [fresh_lead(n) for n in range(4, 21)]
    )
    strict = dataclasses.replace(
        settings, retention=dataclasses.replace(settings.retention, guard_max_leads=2)
    )
    assert _purge(strict, engine).deleted == 3  # 15% of the store: under the share


def test_a_lead_dated_in_the_future_does_not_stop_the_purge(
    settings: Settings, engine: Engine
) -> None:
    """Upstream dates say nothing about our clock: a lead ingested "in 2030" (stored before
    the import refused such leads) must not block every purge until 2030."""
    seed(settings, engine, [make_lead(1, ingestionDate=NOW_TS + 4 * YEAR, TTL=NOW_TS + 5 * YEAR),
                            due_lead(2)])  # fmt: skip
    assert _purge(settings, engine).deleted == 1


@pytest.mark.parametrize(
    ("behind", "refused"),
    [(301, True), (300, False), (299, False)],
    ids=["skew+1s-behind", "skew-behind", "skew-1s-behind"],
)
@pytest.mark.parametrize("recorded", ["run", "audit-event"])
def test_a_clock_behind_what_the_tool_recorded_is_refused(
    settings: Settings, engine: Engine, behind: int, refused: bool, recorded: str
) -> None:
    """The clock check compares with times this tool wrote itself (a run's start, an audit
    event), allowing retention.max_clock_skew_seconds (300 s by default)."""
    seed(settings, engine, [due_lead(1)])
    later = NOW + timedelta(seconds=behind)
    if recorded == "run":
        with engine.begin() as conn:
            start_run(conn, job="erasure", started_at=later, dry_run=False, host="h", pid=1,
                      worker=0, status="skipped")  # fmt: skip
    else:
        place_hold(settings, engine, reason="case 1", now=later, email="nobody@example.com")
    if not refused:
        assert _purge(settings, engine).deleted == 1
        return
    before = snapshot(engine)
    with pytest.raises(GuardError, match="clock check") as caught:
        _purge(settings, engine)
    assert "retention purge --force" in str(caught.value)
    assert "blast-radius" not in str(caught.value) and "share" not in str(caught.value)
    assert snapshot(engine) == before
    assert _purge(settings, engine, force=True).deleted == 1


def test_after_a_forced_run_the_clock_check_trusts_the_new_records(
    settings: Settings, engine: Engine
) -> None:
    """A run once recorded under a clock set years ahead must not outlive a forced run: the
    check looks at the newest records, not the latest times."""
    from jobs.purge import purge_job

    seed(settings, engine, [due_lead(1), due_lead(2), fresh_lead(3)])
    with engine.begin() as conn:
        start_run(conn, job="purge", started_at=NOW + timedelta(days=900), dry_run=False,
                  host="h", pid=1, worker=0, status="skipped")  # fmt: skip
    with freeze_time(NOW):
        with pytest.raises(GuardError, match="clock check"):
            purge_job(_lenient(settings), engine)
        assert purge_job(_lenient(settings), engine, force=True).outcome.status == "succeeded"
    with freeze_time(NOW + timedelta(hours=1)):
        assert purge_job(_lenient(settings), engine).outcome.status == "succeeded"


def test_the_default_batch_size_depends_on_the_backend(settings: Settings, engine: Engine) -> None:
    seed(settings, engine, [due_lead(n) for n in range(1, 1702)])
    result = _purge(_lenient(settings), engine, force=True)
    expected = 1 if engine.dialect.name == "postgresql" else 3  # 5000 / 800 per batch
    assert (result.deleted, result.batches) == (1701, expected)


def test_a_held_lead_is_audited_once_per_run_over_many_batches_and_walks(
    settings: Settings, engine: Engine
) -> None:
    """A run that walks the store in storage order, then by rule, meets a held lead in both
    walks: one `lead.hold_skipped` per held lead and run, and `hold_skipped` counts leads."""
    seed(
        settings,
        engine,
        [due_lead(n) for n in range(1, 21)] + [fresh_lead(n) for n in range(21, 31)],
    )
    place_hold(settings, engine, reason="case 1", now=NOW, lead_id="lead-000003")
    place_hold(settings, engine, reason="case 2", now=NOW, email="seeker.17@example.com")
    result = _purge(_lenient(settings), engine, batch_size=5)
    assert (result.deleted, result.hold_skipped) == (18, 2)
    assert result.batches > 4, "several batches and walks, or this proves nothing"
    skipped = audit_rows(engine, "lead.hold_skipped")
    assert sorted(e.lead_id for e in skipped) == ["lead-000003", "lead-000017"]


@pytest.mark.parametrize("limit", [None, 7, 13], ids=["no-limit", "limit-7", "limit-13"])
@pytest.mark.parametrize("held", [False, True], ids=["no-hold", "holds"])
@pytest.mark.parametrize("batch_size", [4, 100], ids=["storage-order", "by-rule"])
def test_the_dry_run_counts_what_the_real_run_does(
    settings: Settings, engine: Engine, limit: int | None, held: bool, batch_size: int
) -> None:
    ceiling = [make_lead(n, ingestionDate=NOW_TS - 4 * YEAR, TTL=NOW_TS + YEAR)
               for n in range(11, 16)]  # fmt: skip
    seed(settings, engine, [due_lead(n) for n in range(1, 11)] + ceiling +
         [fresh_lead(n) for n in range(16, 41)])  # fmt: skip
    if held:
        place_hold(settings, engine, reason="case 1", now=NOW, lead_id="lead-000002")
        place_hold(settings, engine, reason="case 2", now=NOW, lead_id="lead-000012")
    lenient = _lenient(settings)
    dry = _purge(lenient, engine, dry_run=True, limit=limit, batch_size=batch_size)
    real = _purge(lenient, engine, limit=limit, batch_size=batch_size)
    assert dry.by_rule == real.by_rule
    assert dry.deleted == real.deleted == sum(real.by_rule.values())
    if limit is None:
        assert dry.hold_skipped == real.hold_skipped
        assert dry.batches == real.batches

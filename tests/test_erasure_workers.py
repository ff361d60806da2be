"""Erasure batches side by side (workers, retries): every lead erased and audited once, a
request meeting a lead another transaction holds finished in the same run, a held lead's skip
audited and counted once, one request per subject recorded at the same moment. Only
PostgreSQL runs batches side by side and retries; SQLite runs one batch at a time. Both
databases."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import Engine, text

from jobs.erasure import erasure_job
from retention.config import Settings
from retention.services.audit import verify_audit_chain
from retention.services.requests import add_request
from tests.cli_helpers import run
from tests.erasure_helpers import (
    _drop_restoring_trigger,
    _install_restoring_trigger,
    _lead_row,
    _now,
    _requests,
    on_batch,
)
from tests.erasure_helpers import _frozen as _frozen  # autouse: every test under the frozen clock
from tests.factories import audit_rows, fresh_lead, seed, with_contact


def _with_erasure(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, erasure=dataclasses.replace(settings.erasure, **changes))


def test_batches_side_by_side_erase_and_audit_every_lead_once(
    settings: Settings, engine: Engine
) -> None:
    seed(settings, engine, [fresh_lead(n) for n in range(1, 41)])
    for n in range(1, 41):
        add_request(settings, engine, now=_now(), email=f"seeker.{n}@example.com")
    seen: list[int] = []
    done = erasure_job(
        _with_erasure(settings, batch_size=3, workers=2), engine,
        observer=on_batch(lambda progress: seen.append(progress.total_requests)),
    )  # fmt: skip
    assert done.outcome.status == "succeeded" and done.result is not None
    assert (done.result.completed, done.result.leads_erased, done.result.batches) == (40, 40, 14)
    assert seen == sorted(seen) and seen[-1] == 40
    erased = [e.lead_id for e in audit_rows(engine) if e.action == "lead.erased"]
    assert sorted(erased) == [f"lead-{n:06d}" for n in range(1, 41)]
    assert all(r.status == "completed" for r in _requests(engine))
    assert verify_audit_chain(engine).ok


def test_a_request_whose_lead_another_batch_holds_is_finished_in_the_same_run(
    settings: Settings, engine: Engine
) -> None:
    """Two batches side by side: a request meeting a lead that another transaction holds at
    that moment is carried out again once the batches are done (PostgreSQL; SQLite runs one
    batch at a time and its writers never meet)."""
    seed(settings, engine, [fresh_lead(1), fresh_lead(2)])
    first = add_request(settings, engine, now=_now(), email="seeker.1@example.com")
    add_request(settings, engine, now=_now(), email="seeker.2@example.com")
    holder = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            holder.execute(text("SELECT 1 FROM leads WHERE lead_id = 'lead-000001' FOR UPDATE"))

        def release(progress: Any) -> None:
            if progress.total_requests == 2 and holder.in_transaction():
                holder.rollback()  # both requests had their first try

        done = erasure_job(
            _with_erasure(settings, batch_size=1, workers=2), engine, observer=on_batch(release)
        )
    finally:
        holder.close()
    assert done.result is not None
    assert (done.result.requests, done.result.completed, done.result.leads_erased) == (2, 2, 2)
    assert done.result.batches == (3 if engine.dialect.name == "postgresql" else 2)
    (outcome,) = [o for o in done.result.outcomes if o.request_id == first.request_id]
    assert (outcome.status, outcome.erased_now, outcome.busy) == ("completed", 1, False)
    assert _lead_row(engine, "lead-000001").erased_at is not None
    assert [e.request_id for e in audit_rows(engine) if e.action == "lead.erased"].count(
        first.request_id
    ) == 1


def test_a_held_lead_of_a_request_taken_up_again_is_audited_once_per_run(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    """A request meets a lead another transaction holds and a lead under a legal hold: the
    retry in the same run finishes it (deferred) without auditing the held lead's skip twice.
    Only PostgreSQL retries (SQLite runs one batch at a time): there the same request ends the
    same way in one pass."""
    held = with_contact(fresh_lead(3), email="seeker.1@example.com", phoneNumbers=[])
    seed(settings, engine, [fresh_lead(1), fresh_lead(2), held])
    run(["hold", "place", "--lead-id", "lead-000003", "--reason", "case 4"], environ)
    first = add_request(settings, engine, now=_now(), email="seeker.1@example.com")
    add_request(settings, engine, now=_now(), email="seeker.2@example.com")
    holder = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            holder.execute(text("SELECT 1 FROM leads WHERE lead_id = 'lead-000001' FOR UPDATE"))

        def release(progress: Any) -> None:
            if progress.total_requests == 2 and holder.in_transaction():
                holder.rollback()

        done = erasure_job(
            _with_erasure(settings, batch_size=1, workers=2), engine, observer=on_batch(release)
        )
    finally:
        holder.close()
    assert done.result is not None
    assert done.result.batches == (3 if engine.dialect.name == "postgresql" else 2)
    (outcome,) = [o for o in done.result.outcomes if o.request_id == first.request_id]
    assert (outcome.status, outcome.erased_now, outcome.hold_skipped) == ("deferred", 1, 1)
    skips = [e for e in audit_rows(engine) if e.action == "lead.hold_skipped"]
    assert [(e.lead_id, e.request_id) for e in skips] == [("lead-000003", first.request_id)]
    assert done.result.hold_skipped == 1
    assert verify_audit_chain(engine).ok


def test_a_retry_failing_its_verification_still_reports_the_skip_audited_before(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    """The retry of a request (PostgreSQL) fails its verification: the request fails, and
    the run still counts the held lead whose skip its first pass audited. Whatever the path,
    the skips a run reports are the skips its audit holds."""
    held = with_contact(fresh_lead(3), email="seeker.1@example.com", phoneNumbers=[])
    seed(settings, engine, [fresh_lead(1), fresh_lead(2), held])
    run(["hold", "place", "--lead-id", "lead-000003", "--reason", "case 5"], environ)
    first = add_request(settings, engine, now=_now(), email="seeker.1@example.com")
    add_request(settings, engine, now=_now(), email="seeker.2@example.com")
    _install_restoring_trigger(engine)  # lead-000001 keeps its first name: never verifies
    holder = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            holder.execute(text("SELECT 1 FROM leads WHERE lead_id = 'lead-000001' FOR UPDATE"))

        def release(progress: Any) -> None:
            if progress.total_requests == 2 and holder.in_transaction():
                holder.rollback()

        done = erasure_job(
            _with_erasure(settings, batch_size=1, workers=2), engine, observer=on_batch(release)
        )
    finally:
        holder.close()
        _drop_restoring_trigger(engine)
    assert done.result is not None
    (outcome,) = [o for o in done.result.outcomes if o.request_id == first.request_id]
    assert outcome.status == "failed"
    assert _lead_row(engine, "lead-000001").erased_at is None
    assert _lead_row(engine, "lead-000002").erased_at is not None
    skips = [e for e in audit_rows(engine) if e.action == "lead.hold_skipped"]
    # PostgreSQL: audited by the first pass, before the retry failed; SQLite: one pass,
    # rolled back with the failed batch.
    expected = 1 if engine.dialect.name == "postgresql" else 0
    assert len(skips) == outcome.hold_skipped == done.result.hold_skipped == expected
    assert verify_audit_chain(engine).ok


def test_a_subject_being_recorded_elsewhere_is_not_recorded_twice(
    settings: Settings, engine: Engine
) -> None:
    """Two transactions recording a request for one subject at the same moment (two
    `requests add`, or two erasure workers deriving a suppression entry): the second waits for
    the first and then finds its request instead of recording a second one."""
    import threading

    from retention.services.request_intake import NewRequest, take_in
    from retention.services.subjects import request_subject_of

    # The store's subject key is set up first: the only lock the two then meet is the intake.
    add_request(settings, engine, now=_now(), email="seeker.8@example.com")
    results: list[Any] = []
    with engine.connect() as holder:
        with holder.begin():
            subject = request_subject_of(settings, holder, email="seeker.7@example.com")
            wanted = NewRequest(subject.kind, subject.hash, "cli", _now())
            take_in(holder, [wanted], now=_now())  # takes the intake lock, held until commit
            second = threading.Thread(
                target=lambda: results.append(
                    add_request(settings, engine, now=_now(), email="Seeker.7@example.com")
                )
            )
            second.start()
            if engine.dialect.name == "postgresql":
                # Until the second transaction is seen waiting for the intake lock.
                with engine.connect() as probe:
                    waiting = 0
                    for _ in range(10_000):
                        waiting = probe.scalar(
                            text(
                                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                "AND NOT granted AND objid = :key"
                            ),
                            {"key": 0x6C72_0004},
                        )
                        probe.rollback()
                        if waiting or not second.is_alive():
                            break
                    assert waiting == 1
        second.join(timeout=60)
    assert not second.is_alive()
    (queued,) = results
    assert queued.request_id is None and queued.duplicate_of is not None
    assert len(_requests(engine)) == 2  # seeker 8's and seeker 7's

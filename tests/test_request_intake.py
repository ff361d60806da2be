"""The one place that records erasure requests: reuse, the intake lock, request.received."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

from retention.domain.requests import RequestStatus, due_date
from retention.services.request_intake import NewRequest, take_in
from retention.storage.locks import TransactionLock
from tests.factories import audit_rows

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def _intake_locks_held(conn: Connection) -> int | None:
    """How many intake locks this transaction holds (PostgreSQL), None on SQLite."""
    if conn.dialect.name != "postgresql":
        return None
    return int(
        conn.scalar(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND objid = :key"
            ),
            {"key": int(TransactionLock.REQUEST_INTAKE)},
        )
        or 0
    )


def test_an_open_request_is_reused_and_a_new_one_recorded_once(engine: Engine) -> None:
    first = NewRequest("email", b"h" * 32, "cli", NOW)
    with engine.begin() as conn:
        taken = take_in(conn, [first, first], now=NOW)
        assert _intake_locks_held(conn) in (None, 1)
    assert [(t.recorded, t.due_at) for t in taken] == [(True, due_date(NOW)), (False, None)]
    assert taken[0].request_id == taken[1].request_id
    with engine.begin() as conn:
        (again,) = take_in(conn, [first], now=NOW)
    assert (again.recorded, again.request_id) == (False, taken[0].request_id)
    (received,) = audit_rows(engine, "request.received")
    assert received.request_id == taken[0].request_id


def test_recording_without_reuse_takes_no_intake_lock(engine: Engine) -> None:
    """An import recording the request of a lead the upstream delivered erased must not hold
    the intake lock until it commits (it would stop every other intake for the import)."""
    done = NewRequest("lead_id", b"u" * 32, "upstream", NOW, status=RequestStatus.COMPLETED,
                      completed_at=NOW, leads_erased=1)  # fmt: skip
    with engine.begin() as conn:
        (taken,) = take_in(conn, [done], now=NOW, reuse=None, events=[])
        assert taken.recorded and _intake_locks_held(conn) in (None, 0)

"""The database locks of two stores in two schemas of one PostgreSQL database: advisory locks
are per database, so without the schema in their keys one store's purge would skip its runs
while the other's runs (seen in bench/scheduler_bench.py: lags of three minutes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from retention.storage.locks import TransactionLock, take_transaction_lock, try_run_lock

OTHER_SCHEMA = "retention_test_other"


@pytest.fixture
def two_stores(postgres_url: str) -> Iterator[tuple[Engine, Engine]]:
    """The test store's schema and another one, in the same database."""
    other_url = make_url(postgres_url).update_query_dict(
        {"options": f"-csearch_path={OTHER_SCHEMA}"}
    )
    first, other = create_engine(postgres_url), create_engine(other_url)
    with first.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {OTHER_SCHEMA}"))
    try:
        yield first, other
    finally:
        other.dispose()
        with first.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {OTHER_SCHEMA} CASCADE"))
        first.dispose()


@pytest.mark.postgres
def test_a_run_in_one_schema_does_not_hold_the_same_job_in_another(
    two_stores: tuple[Engine, Engine],
) -> None:
    first, other = two_stores
    held = try_run_lock(first, "purge", 0)
    assert held is not None
    try:
        assert try_run_lock(first, "purge", 0) is None, "the same store: one run at a time"
        beside = try_run_lock(other, "purge", 0)
        assert beside is not None, "another store in the same database runs its own purge"
        beside.release()
    finally:
        held.release()
    again = try_run_lock(first, "purge", 0)
    assert again is not None
    again.release()


@pytest.mark.postgres
def test_a_transaction_lock_in_one_schema_does_not_wait_for_another(
    two_stores: tuple[Engine, Engine],
) -> None:
    first, other = two_stores
    with first.connect() as holder, holder.begin():
        take_transaction_lock(holder, TransactionLock.IMPORT)
        with other.connect() as conn, conn.begin():
            conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            take_transaction_lock(conn, TransactionLock.IMPORT)  # does not wait
        with first.connect() as conn, conn.begin():
            conn.execute(text("SET LOCAL lock_timeout = '200ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                take_transaction_lock(conn, TransactionLock.IMPORT)

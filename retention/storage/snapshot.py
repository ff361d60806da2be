"""One consistent read-only view of the store, for readers whose figures must agree with
each other (the report, `requests show`, `audit verify`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, text

from retention.storage.engine import READ_ONLY

__all__ = ["read_snapshot"]


class PostgresSnapshot:
    """REPEATABLE READ, READ ONLY: every statement of the transaction sees the same
    committed state, and the transaction can write nothing (SQLAlchemy sets both on the
    connection, and puts them back when it returns to the pool)."""

    options: ClassVar[dict[str, Any]] = {
        "isolation_level": "REPEATABLE READ",
        "postgresql_readonly": True,
    }
    # For GROUP BY over millions of events (the report): the planner cannot estimate how
    # many days x facets a period holds and sorts the period's events, which at the default
    # 4 MB spills to disk (64 MB keeps 10 million events' month in memory); and JIT-compiling
    # those queries costs more than it saves (bench/report_bench.py). This transaction only.
    aggregates: ClassVar[tuple[str, ...]] = ("SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")


class SQLiteSnapshot:
    """A read transaction (BEGIN, not IMMEDIATE: READ_ONLY) sees one state of the WAL from
    its first read to its end, and takes no write lock."""

    options: ClassVar[dict[str, Any]] = {}
    aggregates: ClassVar[tuple[str, ...]] = ()


@contextmanager
def read_snapshot(engine: Engine, *, aggregates: bool = False) -> Iterator[Connection]:
    """One read-only transaction over one consistent state of the store, rolled back at the
    end (it changed nothing); with `aggregates`, tuned for large GROUP BY queries."""
    snapshot = PostgresSnapshot if engine.dialect.name == "postgresql" else SQLiteSnapshot
    with (
        engine.connect().execution_options(**READ_ONLY, **snapshot.options) as conn,
        conn.begin() as started,
    ):
        for statement in snapshot.aggregates if aggregates else ():
            conn.execute(text(statement))
        yield conn
        started.rollback()

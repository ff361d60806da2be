"""The small differences between SQLite and PostgreSQL, as capabilities of one code path."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Engine,
    String,
    Table,
    any_,
    bindparam,
    cast,
    insert,
    literal,
    literal_column,
)
from sqlalchemy.types import UserDefinedType

from retention.storage.types import sqlite_datetime_text

__all__ = [
    "IN_CHUNK",
    "bulk_insert",
    "chunks",
    "concurrent_workers",
    "default_purge_batch",
    "ids_condition",
    "insert_for",
    "insert_returning_id",
    "row_locator",
    "row_locator_after",
    "supports_advisory_locks",
    "supports_skip_locked",
]


def insert_for(conn: Connection, table: Table) -> Any:
    """An INSERT construct with `on_conflict_do_update/nothing` for this connection's dialect.

    Both dialects' constructs share the same API (`excluded`, `index_elements`, `where`), so
    callers write one upsert for both.
    """
    # Imported here: the PostgreSQL dialect package pulls in asyncio, which a SQLite store
    # never needs.
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def insert_returning_id(conn: Connection, table: Table, values: Mapping[str, Any]) -> int:
    """Insert one row and return its generated id (RETURNING, on both dialects)."""
    new_id = conn.execute(insert(table).values(dict(values)).returning(table.c.id)).scalar_one()
    return int(new_id)


def supports_advisory_locks(conn: Connection) -> bool:
    """Whether transactions coordinate through advisory locks (storage/locks.py). SQLite has a
    single writer at a time, which orders writers already."""
    return conn.dialect.name == "postgresql"


# Values per IN list or array parameter: SQLite's stay well under its parameter limit (32766).
IN_CHUNK = 5000
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`, for statements with one value per item."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ids_condition(
    conn: Connection, column: ColumnElement[Any], ids: Sequence[str]
) -> ColumnElement[bool]:
    """`column` is one of `ids`: one array parameter on PostgreSQL (no 5,000-placeholder
    statement to parse), an IN list on SQLite (well under its parameter limit per batch)."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam("ids", value=list(ids), type_=ARRAY(String)))
    return column.in_(ids)


def supports_skip_locked(conn: Connection) -> bool:
    """Whether concurrent workers can take disjoint batches with FOR UPDATE SKIP LOCKED.
    SQLite has one writer at a time, so its batches never overlap anyway."""
    return conn.dialect.name == "postgresql"


def concurrent_workers(engine: Engine, configured: int) -> int:
    """How many runs of a job may work at once: PostgreSQL takes disjoint batches with SKIP
    LOCKED; SQLite has a single writer, so one."""
    return configured if engine.dialect.name == "postgresql" else 1


def bulk_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert many plain rows fast, bypassing SQLAlchemy's per-row processing: COPY on
    PostgreSQL, one executemany on SQLite (aware datetimes written as UTCDateTime stores
    them). Values must be of the columns' Python types: str, int, bool, bytes, datetime."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    converted = [
        tuple(sqlite_datetime_text(v) if isinstance(v, datetime) else v for v in row)
        for row in rows
    ]
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", converted)


def row_locator(conn: Connection) -> ColumnElement[Any]:
    """The physical address of a row (PostgreSQL ctid, SQLite rowid): deleting by it after
    selecting it in the same statement is a direct lookup, where a join on the key may make
    PostgreSQL scan the whole table; walking it visits the table in storage order."""
    return literal_column("ctid" if conn.dialect.name == "postgresql" else "rowid")


def row_locator_after(conn: Connection, position: Any) -> ColumnElement[bool]:
    """Rows stored after `position`, a value of row_locator (PostgreSQL: a TID range scan)."""
    if conn.dialect.name == "postgresql":
        return literal_column("ctid") > cast(literal(str(position)), _TID())
    return literal_column("rowid") > literal(position)


class _TID(UserDefinedType[str]):
    cache_ok = True

    def get_col_spec(self, **_kw: Any) -> str:
        return "tid"


def default_purge_batch(engine: Engine) -> int:
    """Leads per purge transaction when config says 0 (automatic). SQLite writes every page a
    batch touched to its WAL at commit, so its batches are smaller to stay near half a second."""
    return 5000 if engine.dialect.name == "postgresql" else 800

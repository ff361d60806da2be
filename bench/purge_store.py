"""The purge benchmark's stores: built, measured against the floor, described, dropped.

A store is a fresh SQLite file or PostgreSQL schema, given the schema of the code under test by
`retention db upgrade`, then bulk-loaded with the data set of bench/purge_data.py.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from children import checked, retention_argv, run_child
from harness import (
    MB,
    checkpoint_sqlite,
    log,
    pg_execute,
    pg_url_with_schema,
    remove_sqlite_store,
    reset_pg_schema,
    run_probe,
)
from purge_data import (
    FLOOR_DELETE_SQL,
    Layout,
    floor_audit_sql,
    leads_insert_sql,
    pg_statement,
    subjects_insert_sql,
    word_tables,
)

__all__ = ["Floor", "PostgresStore", "SQLiteStore", "Store"]


@dataclass(slots=True)
class Floor:
    deleted: int
    audit_rows: int
    seconds: float
    insert_seconds: float
    delete_seconds: float
    commit_seconds: float | None  # None: rolled back, not committed
    # SQLite: the WAL checkpoint the floor's transaction leaves for later (not in `seconds`;
    # the purge pays its own as automatic checkpoints after its batch commits).
    checkpoint_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.deleted / self.seconds if self.seconds else 0.0

    @property
    def rate_with_checkpoint(self) -> float | None:
        if self.checkpoint_seconds is None:
            return None
        return self.deleted / (self.seconds + self.checkpoint_seconds)


class Store:
    """A benchmark store on one backend: build, floor, clean up."""

    dialect = ""
    chunk = 100_000

    @property
    def url(self) -> str:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def load(self, layout: Layout) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Make the store quiescent before a timed phase (dirty pages flushed)."""
        raise NotImplementedError

    def floor(self, layout: Layout) -> Floor:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def upgrade(self, env: dict[str, str]) -> None:
        """`retention db upgrade` (the code under test's schema), then what it needs more."""
        checked(run_child(retention_argv("db", "upgrade", "--json"), env), "db upgrade")

    def _loaded(self, stop: int, layout: Layout) -> None:
        log(f"  {self.dialect}: {stop:,} / {layout.leads:,} leads loaded")


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, base_url: str, schema: str) -> None:
        self.base_url = base_url
        self.schema = schema

    @property
    def url(self) -> str:
        return pg_url_with_schema(self.base_url, self.schema)

    def _connect(self, *, autocommit: bool = True) -> Any:
        import psycopg

        conninfo = self.base_url.replace("postgresql+psycopg://", "postgresql://", 1)
        return psycopg.connect(
            conninfo, autocommit=autocommit, options=f"-c search_path={self.schema}"
        )

    def reset(self) -> None:
        reset_pg_schema(self.base_url, self.schema)

    def _vacuum(self) -> None:
        tables = ("leads", "lead_subjects", "audit_events")
        pg_execute(self.url, *(f"VACUUM (ANALYZE) {table}" for table in tables))

    def load(self, layout: Layout) -> None:
        loaded = datetime.fromtimestamp(layout.now, UTC)
        with self._connect() as conn:
            for name, (columns, rows) in word_tables().items():
                types = ", ".join(f"{c} text" for c in columns.split(", ")[1:])
                conn.execute(f"CREATE TEMP TABLE {name} (id bigint PRIMARY KEY, {types})")
                marks = ", ".join(["%s"] * len(rows[0]))
                with conn.cursor() as cur:
                    cur.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
            statement = pg_statement(leads_insert_sql("postgresql"))
            for start in range(0, layout.leads, self.chunk):
                stop = min(start + self.chunk, layout.leads)
                conn.execute(statement, {**layout.params(start, stop), "loaded": loaded})
                self._loaded(stop, layout)
            conn.execute(subjects_insert_sql("postgresql"))
        log("  postgresql: subjects loaded; VACUUM ANALYZE")
        self._vacuum()

    def prepare(self) -> None:
        pg_execute(self.url, "CHECKPOINT")

    def floor(self, layout: Layout) -> Floor:
        now = datetime.fromtimestamp(layout.now, UTC)
        with self._connect(autocommit=False) as conn:
            started = time.perf_counter()
            audit = conn.execute(pg_statement(floor_audit_sql("postgresql")), {"now": now})
            inserted = time.perf_counter()
            deleted = conn.execute(pg_statement(FLOOR_DELETE_SQL), {"now": now})
            finished = time.perf_counter()
            conn.rollback()
        self._vacuum()  # the aborted rows must not slow the purge down
        return Floor(
            deleted.rowcount, audit.rowcount, finished - started, inserted - started,
            finished - inserted, None,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE ttl <= now()),"
                " avg(octet_length(payload::text)), avg(pg_column_size(payload)),"
                " avg(pg_column_size(leads.*)) FROM leads"
            ).fetchone()
            subjects = conn.execute("SELECT count(*) FROM lead_subjects").fetchone()[0]
            sizes = conn.execute(
                "SELECT pg_total_relation_size('leads'), pg_total_relation_size('lead_subjects')"
            ).fetchone()
        return {
            "leads": row[0], "due_now": row[1], "payload_json_bytes": float(row[2]),
            "payload_stored_bytes": float(row[3]), "row_stored_bytes": float(row[4]),
            "subjects": subjects, "leads_table_mb": sizes[0] / MB,
            "subjects_table_mb": sizes[1] / MB,
        }  # fmt: skip

    def drop(self) -> None:
        reset_pg_schema(self.base_url, self.schema, create=False)


# The connection settings the floor copies from the tool's own engine, in this order.
TOOL_PRAGMAS = (
    "busy_timeout", "journal_mode", "synchronous", "wal_autocheckpoint", "foreign_keys",
    "secure_delete", "cache_size", "temp_store",
)  # fmt: skip
_PROBE_PRAGMAS = f"""
import json
from retention.config import load_settings
from retention.storage.engine import create_store_engine
engine = create_store_engine(load_settings().database)
with engine.connect() as conn:
    found = {{name: conn.exec_driver_sql(f"PRAGMA {{name}}").scalar() for name in {TOOL_PRAGMAS!r}}}
print(json.dumps(found))
"""


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(self, workdir: Path, leads: int) -> None:
        self.path = workdir / f"purge-bench-{leads}.db"
        self.tool_pragmas: dict[str, Any] = {}

    def upgrade(self, env: dict[str, str]) -> None:
        """Also probe the pragmas the code under test sets on its connections (engine.py),
        so that the floor runs under the same ones."""
        super().upgrade(env)
        self.tool_pragmas = json.loads(run_probe(_PROBE_PRAGMAS, env))
        log(f"  sqlite: the tool's connection pragmas: {self.tool_pragmas}")

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def reset(self) -> None:
        remove_sqlite_store(self.path)

    def _connect(self, path: Path | None = None) -> Any:
        import sqlite3

        return sqlite3.connect(path or self.path, isolation_level=None)

    def load(self, layout: Layout) -> None:
        conn = self._connect()
        try:
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -1000000",
                           "temp_store = MEMORY"):  # fmt: skip
                conn.execute(f"PRAGMA {pragma}")
            for name, (columns, rows) in word_tables().items():
                typed = columns.replace("id,", "id INTEGER PRIMARY KEY,")
                conn.execute(f"CREATE TEMP TABLE {name} ({typed})")
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
            loaded = datetime.fromtimestamp(layout.now, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            statement = leads_insert_sql("sqlite")
            for start in range(0, layout.leads, self.chunk):
                stop = min(start + self.chunk, layout.leads)
                conn.execute("BEGIN")
                conn.execute(statement, {**layout.params(start, stop), "loaded": loaded})
                conn.execute("COMMIT")
                self._loaded(stop, layout)
            conn.execute("BEGIN")
            conn.execute(subjects_insert_sql("sqlite"))
            conn.execute("COMMIT")
            log("  sqlite: subjects loaded; ANALYZE")
            conn.execute("ANALYZE")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()

    def prepare(self) -> None:
        checkpoint_sqlite(self.path)

    def floor(self, layout: Layout) -> Floor:
        """On a copy of the file, under the tool's pragmas, COMMIT included; the WAL
        checkpoint it leaves is timed apart. The copy is deleted."""
        copy = self.path.with_name(self.path.stem + "-floor.db")
        remove_sqlite_store(copy)
        shutil.copyfile(self.path, copy)
        os.sync()
        now = datetime.fromtimestamp(layout.now, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        conn = self._connect(copy)
        try:
            for name, value in self.tool_pragmas.items():
                conn.execute(f"PRAGMA {name} = {value}")
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            audit = conn.execute(floor_audit_sql("sqlite"), {"now": now}).rowcount
            inserted = time.perf_counter()
            deleted = conn.execute(FLOOR_DELETE_SQL, {"now": now}).rowcount
            deleted_at = time.perf_counter()
            conn.execute("COMMIT")
            finished = time.perf_counter()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            checkpointed = time.perf_counter()
        finally:
            conn.close()
            remove_sqlite_store(copy)
        return Floor(
            deleted, audit, finished - started, inserted - started, deleted_at - inserted,
            finished - deleted_at, checkpointed - finished,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT count(*), avg(length(CAST(payload AS BLOB))) FROM leads"
            ).fetchone()
            subjects = conn.execute("SELECT count(*) FROM lead_subjects").fetchone()[0]
        finally:
            conn.close()
        return {
            "leads": row[0], "payload_json_bytes": float(row[1]), "subjects": subjects,
            "file_mb": self.path.stat().st_size / MB,
        }  # fmt: skip

    def drop(self) -> None:
        self.reset()

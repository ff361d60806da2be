"""Run locks: two runs of the same job (worker slot) never overlap, on one host or many.

PostgreSQL: a session advisory lock on a connection kept for the run; the server releases it
when the connection or the process dies. SQLite: an exclusive flock on a file beside the
database; the kernel releases it when the process dies, so a killed run never leaves it stuck.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text

from retention.storage.engine import sqlite_path

__all__ = ["PostgresRunLock", "RunLock", "SQLiteRunLock", "try_run_lock"]


class RunLock(Protocol):
    def release(self) -> None: ...


def _lock_key(job: str, worker: int) -> int:
    digest = hashlib.sha256(f"lead-retention/run/{job}/{worker}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresRunLock:
    def __init__(self, conn: Connection, key: int) -> None:
        self._conn = conn
        self._key = key

    @classmethod
    def try_acquire(cls, engine: Engine, job: str, worker: int) -> PostgresRunLock | None:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        key = _lock_key(job, worker)
        try:
            acquired = conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
        except BaseException:
            conn.close()
            raise
        if not acquired:
            conn.close()
            return None
        return cls(conn, key)

    def release(self) -> None:
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
        finally:
            self._conn.close()


class SQLiteRunLock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def try_acquire(cls, database: Path, job: str, worker: int) -> SQLiteRunLock | None:
        path = database.with_name(f"{database.name}.{job}-{worker}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return cls(fd)

    def release(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)


def try_run_lock(engine: Engine, job: str, worker: int) -> RunLock | None:
    """The lock of `job`'s worker slot, or None when another run holds it."""
    if engine.dialect.name == "postgresql":
        return PostgresRunLock.try_acquire(engine, job, worker)
    database = sqlite_path(engine.url.render_as_string(hide_password=False))
    if database is None:
        raise ValueError("an in-memory SQLite store has no run lock (config refuses it)")
    return SQLiteRunLock.try_acquire(database, job, worker)

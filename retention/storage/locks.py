"""Every lock the tool takes in the database, and their keys, in one place.

Run locks: two runs of the same job (worker slot) never overlap, on one host or many.
PostgreSQL: a session advisory lock on a connection kept for the run; the server releases it
when the connection or the process dies. SQLite: an exclusive flock on a file beside the
database; the kernel releases it when the process dies, so a killed run never leaves it stuck.

Transaction locks (PostgreSQL advisory locks held until the transaction ends) order writers
that row locks cannot: SQLite has a single writer at a time, which orders them already.

PostgreSQL's advisory locks are per database, not per schema: every key here includes the
store's schema (`current_schema()`), so two stores in two schemas of one database never wait
for, or skip a run because of, each other.
"""

from __future__ import annotations

import fcntl
import os
from enum import IntEnum
from pathlib import Path
from typing import Protocol

from sqlalchemy import Connection, Engine, text

from retention.storage.dialect import supports_advisory_locks
from retention.storage.engine import sqlite_path

__all__ = [
    "PostgresRunLock",
    "RunLock",
    "SQLiteRunLock",
    "TransactionLock",
    "take_transaction_lock",
    "transaction_lock_sql",
    "try_run_lock",
]


class TransactionLock(IntEnum):
    """Keys of the transaction-scoped advisory locks (arbitrary constants, 'lr' + a number,
    paired with the hash of the store's schema: the two-key form); run locks use keys the
    server hashes from the schema, the job and the worker slot instead."""

    # Schema upgrades from several hosts, one after the other.
    SCHEMA = 0x6C72_0001
    # Erasures (shared) against the end of imports (exclusive): an erasure looks a subject's
    # leads up and cannot see the leads an import has not committed yet; the import checks
    # its leads against the requests recorded while it ran, and commits, under this lock
    # taken exclusively. So either the erasure ran before that check (the import then sees
    # its request) or after the commit (the erasure then sees the leads).
    SUPPRESSION = 0x6C72_0002
    # Imports into one store, one after the other: the check that a batch's leads are all
    # new stays true until its COPY.
    IMPORT = 0x6C72_0003
    # "Is there an open request for this subject? If not, record one", so two transactions
    # never record the same subject twice. Taken after any lead or request row lock and
    # before the audit head.
    REQUEST_INTAKE = 0x6C72_0004


def transaction_lock_sql(lock: TransactionLock, *, shared: bool = False) -> str:
    """The statement that takes `lock` in this store's schema until the transaction ends."""
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    return f"SELECT {function}(hashtext(current_schema()), {int(lock)})"


def take_transaction_lock(conn: Connection, lock: TransactionLock, *, shared: bool = False) -> None:
    """Hold `lock` until the transaction ends (PostgreSQL; nothing to do on SQLite)."""
    if supports_advisory_locks(conn):
        conn.exec_driver_sql(transaction_lock_sql(lock, shared=shared))


class RunLock(Protocol):
    def release(self) -> None: ...


# A run lock's 64-bit key, hashed by the server from the store's schema and the run's name:
# one statement takes it, and the same expression on the same connection releases it.
_RUN_LOCK_KEY = "hashtextextended(current_schema() || '/lead-retention/run/' || :name, 0)"


def _run_lock_name(job: str, worker: int) -> str:
    return f"{job}/{worker}"


class PostgresRunLock:
    def __init__(self, conn: Connection, name: str) -> None:
        self._conn = conn
        self._name = name

    @classmethod
    def try_acquire(cls, engine: Engine, job: str, worker: int) -> PostgresRunLock | None:
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        name = _run_lock_name(job, worker)
        try:
            acquired = conn.scalar(
                text(f"SELECT pg_try_advisory_lock({_RUN_LOCK_KEY})"), {"name": name}
            )
        except BaseException:
            conn.close()
            raise
        if not acquired:
            conn.close()
            return None
        return cls(conn, name)

    def release(self) -> None:
        try:
            self._conn.execute(
                text(f"SELECT pg_advisory_unlock({_RUN_LOCK_KEY})"), {"name": self._name}
            )
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

"""Opening the store: engine creation, SQLite pragmas, reachability and schema checks."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from retention.errors import (
    DatabaseUnavailableError,
    RetentionError,
    SchemaNotCurrentError,
    SchemaTooNewError,
)

if TYPE_CHECKING:
    from alembic.config import Config

    from retention.config import DatabaseSettings

# Every migration in retention/migrations/versions, oldest first; the last is the newest
# (tests/test_migrations.py checks both).
KNOWN_REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008")
SCHEMA_REVISION = KNOWN_REVISIONS[-1]

__all__ = [
    "KNOWN_REVISIONS",
    "READ_ONLY",
    "SCHEMA_REVISION",
    "alembic_config",
    "check_schema_current",
    "check_schema_known",
    "create_store_engine",
    "current_revision",
    "describe_error",
    "head_revision",
    "sqlite_path",
    "transaction",
]

logger = logging.getLogger(__name__)

UPGRADE_HINT = "run `retention db upgrade`"
# Execution options of a connection that only reads: on SQLite it does not take the write lock.
READ_ONLY: dict[str, Any] = {"retention_read_only": True}


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for PostgreSQL or an in-memory database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _configure_sqlite(engine: Engine, busy_timeout_seconds: float) -> None:
    timeout_ms = int(busy_timeout_seconds * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, instead of pysqlite's own guess.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {timeout_ms}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL fsyncs at checkpoints, not at every commit. Each transaction stays
        # atomic and the file consistent; a power cut can lose only the last commits whole (a
        # purge batch together with its audit events), which the next run redoes.
        cursor.execute("PRAGMA synchronous = NORMAL")
        # Checkpoint every ~40 MB of WAL rather than every 4 MB: pages that every batch
        # touches (index pages) are copied back to the database file ten times less often.
        # The purge and erasure truncate the WAL when they finish (residue).
        cursor.execute("PRAGMA wal_autocheckpoint = 10000")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Deleted content is overwritten with zeros, not left in free pages.
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: a writer waits (busy_timeout) instead of
        # failing later when a read transaction tries to upgrade. Readers say so (READ_ONLY)
        # and never wait for a writer under WAL.
        options = conn.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return  # e.g. PRAGMA wal_checkpoint, which cannot run inside a transaction
        read_only = options.get("retention_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _create_private_file(path: Path) -> None:
    """Create an empty SQLite store file readable by its owner only: it will hold personal
    data. SQLite gives its WAL and shared-memory files the mode of the database file."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # another process just created it
    except OSError as exc:
        raise DatabaseUnavailableError(f"cannot create {path}: {exc.strerror}") from None


def create_store_engine(database: DatabaseSettings, *, must_exist: bool = True) -> Engine:
    """Create the engine and prove the database answers; DatabaseUnavailableError otherwise.

    With `must_exist`, a SQLite file that does not exist yet is not created: the schema check
    then tells the user to run `retention db upgrade`.
    """
    url = database.url
    masked = database.masked_url
    path = sqlite_path(url)
    if path is not None:
        if must_exist and not path.exists():
            raise SchemaNotCurrentError(f"no lead store at {path}: {UPGRADE_HINT}")
        if not path.parent.exists():
            raise DatabaseUnavailableError(
                f"cannot open {masked}: folder {path.parent} does not exist"
            )
        if not path.exists():
            _create_private_file(path)
        engine = create_engine(url)
        _configure_sqlite(engine, database.busy_timeout_seconds)
    else:
        engine = create_engine(
            url,
            connect_args={"connect_timeout": 10, "application_name": "lead-retention"},
            pool_pre_ping=True,
        )
    try:
        with engine.connect():
            pass
    except (OperationalError, DBAPIError) as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise DatabaseUnavailableError(f"cannot connect to {masked}: {reason}") from exc
    return engine


@contextmanager
def transaction(engine: Engine, *, dry_run: bool) -> Iterator[Connection]:
    """A transaction that commits at the end; for a dry run, a read-only one (SQLite: no
    write lock taken up front) rolled back at the end whatever it did, e.g. the subject key's
    fingerprint recorded on first use."""
    if not dry_run:
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect().execution_options(**READ_ONLY) as conn, conn.begin() as started:
        yield conn
        started.rollback()


def describe_error(exc: BaseException) -> str:
    """A one-line reason that holds no personal data: our own messages, or the driver's
    first line, never SQL parameters (they may hold the rows being written)."""
    if isinstance(exc, RetentionError):
        return str(exc)
    if isinstance(exc, DBAPIError):
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else ""
        return f"database error: {first or type(exc).__name__}"
    return f"unexpected {type(exc).__name__} (run with --traceback for details)"


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations."""
    from alembic.config import Config  # only `db upgrade` and `db current` need Alembic

    config = Config()
    config.set_main_option("script_location", "retention:migrations")
    return config


def head_revision() -> str | None:
    """The newest migration, read from the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (Alembic's version table), None without a schema."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        try:
            revision = conn.scalar(text("SELECT version_num FROM alembic_version"))
        except DBAPIError:  # no version table: no schema (cheaper than reflecting first)
            return None
        return str(revision) if revision is not None else None


def check_schema_known(current: str | None) -> None:
    """Raise SchemaTooNewError when the store is at a revision this version does not know:
    a newer version of the tool upgraded it, and this one must not touch it."""
    if current is not None and current not in KNOWN_REVISIONS:
        raise SchemaTooNewError(
            f"the database schema is at revision {current}, newer than this version of "
            f"lead-retention knows (up to {SCHEMA_REVISION}): use the newer version of the "
            "tool that upgraded it (`retention db upgrade` cannot downgrade)"
        )


def check_schema_current(engine: Engine) -> None:
    """Raise SchemaNotCurrentError unless the database is at the newest migration. Compares
    with SCHEMA_REVISION, which a test keeps equal to the newest migration script: loading
    Alembic's scripts would cost every command a noticeable part of its start-up."""
    current = current_revision(engine)
    head = SCHEMA_REVISION
    if current is None:
        raise SchemaNotCurrentError(f"the database has no lead-retention schema: {UPGRADE_HINT}")
    check_schema_known(current)
    if current != head:
        raise SchemaNotCurrentError(
            f"the database schema is at revision {current}, this version needs {head}: "
            f"{UPGRADE_HINT}"
        )

"""Fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL: RETENTION_TEST_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test,
an empty value turns it off). Tests use their own schema `retention_test`, created afresh for the
session. Locally an unreachable server skips those tests with the reason; with CI set it fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from retention.config import Settings, load_settings
from retention.services.schema import upgrade_schema
from retention.storage.engine import create_store_engine
from retention.storage.schema import GENESIS_HASH, audit_head, metadata

POSTGRES_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TEST_SCHEMA = "retention_test"
TEST_KEY = "test-subject-key-0123456789abcdef-0123456789"
FROZEN_NOW = "2026-01-15T12:00:00+00:00"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No developer setting leaks into a test."""
    for name in list(os.environ):
        if name.startswith("RETENTION_") and name != "RETENTION_TEST_POSTGRES_URL":
            monkeypatch.delenv(name)


def _postgres_base_url() -> str | None:
    value = os.environ.get("RETENTION_TEST_POSTGRES_URL")
    if value is None:
        return POSTGRES_DEFAULT
    return value or None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    base = _postgres_base_url()
    if base is None:
        _unavailable("RETENTION_TEST_POSTGRES_URL is empty")
        raise AssertionError("unreachable")
    admin = create_engine(base, connect_args={"connect_timeout": 5})
    try:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {TEST_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {TEST_SCHEMA}"))
    except OperationalError as exc:
        admin.dispose()
        _unavailable(str(exc.orig).splitlines()[0] if exc.orig else str(exc))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={TEST_SCHEMA}"})
    rendered = url.render_as_string(hide_password=False)
    engine = create_engine(rendered)
    upgrade_schema(engine)
    engine.dispose()
    yield rendered
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {TEST_SCHEMA} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite store at the newest schema, copied for each test."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = create_engine(f"sqlite:///{path}")
    upgrade_schema(engine)
    engine.dispose()
    return path


def _empty_tables(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn, audit_tampering(conn):
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(audit_head.insert().values(id=1, event_id=None, hash=GENESIS_HASH))
    engine.dispose()


@contextmanager
def audit_tampering(conn: Connection) -> Iterator[None]:
    """Let a test (or the fixture emptying tables) change audit_events, as a schema owner
    could: PostgreSQL skips user triggers in replica mode; SQLite's triggers are dropped and
    put back."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        yield
        return
    triggers = (
        conn.execute(
            text(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
            )
        )
        .scalars()
        .all()
    )
    for name in ("audit_events_no_update", "audit_events_no_delete"):
        conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))
    yield
    for sql in triggers:
        conn.execute(text(sql))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty store at the newest schema."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    _empty_tables(url)
    return url


@pytest.fixture
def environ(database_url: str) -> dict[str, str]:
    """The environment a command of the tool would see for this store."""
    return {"RETENTION_DATABASE_URL": database_url, "RETENTION_SUBJECT_KEY": TEST_KEY}


@pytest.fixture
def settings(environ: dict[str, str]) -> Settings:
    return load_settings(environ=environ)


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = create_store_engine(settings.database)
    yield engine
    assert engine.pool.checkedout() == 0, "a test left a connection checked out"  # type: ignore[attr-defined]
    engine.dispose()


@pytest.fixture
def frozen_now() -> Iterator[object]:
    with freeze_time(FROZEN_NOW) as frozen:
        yield frozen

"""Opening a store: in-memory URLs refused, a schema newer than the tool, file modes."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from retention.config import load_settings
from retention.services.demo import example_files
from tests.cli_helpers import run
from tests.conftest import TEST_KEY
from tests.factories import due_lead, lead_ids, seed

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://", "sqlite:///"])
def test_an_in_memory_store_is_refused_in_one_line(url: str) -> None:
    result = run(["--database-url", url, "db", "upgrade"], {})
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("error: config: database.url: is an in-memory SQLite database")
    assert "\n" not in line and "Traceback" not in result.output


def _store_at(tmp_path: Path, revision: str) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    assert run(["--database-url", url, "db", "upgrade"], {}).exit_code == 0
    conn = sqlite3.connect(tmp_path / "store.db")
    with conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    conn.close()
    return url


@pytest.mark.parametrize("command", [["db", "upgrade"], ["purge", "--dry-run"], ["import", "-"]])
def test_a_schema_newer_than_the_tool_is_exit_3_saying_so(
    tmp_path: Path, command: list[str]
) -> None:
    url = _store_at(tmp_path, "0099")
    before = (tmp_path / "store.db").read_bytes()
    result = run(["--database-url", url, *command], {"RETENTION_SUBJECT_KEY": TEST_KEY}, b"[]")
    assert result.exit_code == 3
    line = result.stderr.strip()
    assert line.startswith("error: the database schema is at revision 0099, newer than this")
    assert "Traceback" not in result.output and "\n" not in line
    assert "run `retention db upgrade`" not in line
    assert (tmp_path / "store.db").read_bytes() == before
    current = run(["--database-url", url, "db", "current"], {})
    assert "newer than this version of lead-retention" in current.stdout


@pytest.mark.parametrize("command", [["db", "upgrade"], ["purge"], ["import", "-"]])
def test_a_schema_newer_than_the_tool_changes_nothing_on_either_database(
    engine: Engine, environ: dict[str, str], command: list[str]
) -> None:
    """The same refusal on PostgreSQL: exit 3, one line, the store left as it was (the leads
    and the newer revision)."""
    seed(load_settings(environ=environ), engine, [due_lead(1)])
    with engine.begin() as conn:
        current = conn.scalar(text("SELECT version_num FROM alembic_version"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    try:
        result = run(command, environ, b"[]")
        assert result.exit_code == 3, result.output
        assert "newer than this version of lead-retention" in result.stderr
        assert "Traceback" not in result.output
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0099"
        assert lead_ids(engine) == {"lead-000001"}
    finally:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": current})


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_store_and_its_files_are_private(tmp_path: Path) -> None:
    """The store holds personal data: the database, its WAL and shared memory, the key and
    the lock files are readable by their owner only, whatever the umask."""
    old = os.umask(0o022)
    try:
        url = f"sqlite:///{tmp_path / 'store.db'}"
        env = {"RETENTION_DATABASE_URL": url}
        assert run(["db", "upgrade"], env).exit_code == 0
        assert run(["import", *example_files()], env).exit_code == 0
        assert run(["purge"], env).exit_code == 0  # takes the purge's lock (a file)
        # A second process keeps the WAL and the shared memory open while we look.
        script = (
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('BEGIN IMMEDIATE');"
            " c.execute('CREATE TABLE t(x)'); print(1, flush=True); sys.stdin.read()"
        )
        holder = subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / "store.db")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"1"
        try:
            files = sorted(p.name for p in tmp_path.iterdir())
            assert {"store.db", "store.db-wal", "store.db-shm", "store.db.key",
                    "store.db.purge-0.lock"} <= set(files)  # fmt: skip
            for name in files:
                assert _mode(tmp_path / name) == 0o600, name
        finally:
            holder.communicate(b"")
    finally:
        os.umask(old)


def test_the_quick_start_leaves_git_status_clean() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "retention-demo.db.purge-0.lock",
         "retention-demo.db.erasure-0.lock", "retention-demo.db-wal", "retention-demo.db.key"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert len(result.stdout.split()) == 4, (result.stdout, ignored)


def test_demo_in_a_missing_folder_is_bad_input(tmp_path: Path) -> None:
    result = run(["demo", "--path", str(tmp_path / "nowhere" / "demo.db")], {})
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --path: folder {tmp_path / 'nowhere'} does not exist"

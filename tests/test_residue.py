"""Deleted values must not survive in the database files."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from freezegun import freeze_time

from jobs.purge import purge_job
from retention.config import load_settings
from retention.storage.engine import create_store_engine
from tests.conftest import TEST_KEY, _empty_tables
from tests.factories import FROZEN_NOW_TEXT, due_lead, fresh_lead, seed, with_contact

MARKER = "Xylophonique-residue-marker"


def _files(database: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in (database, database.with_name(database.name + "-wal")) if p.exists()
    )


def test_sqlite_files_hold_no_deleted_value_after_a_purge(
    sqlite_template: Path, tmp_path: Path
) -> None:
    database = tmp_path / "store.db"
    shutil.copyfile(sqlite_template, database)
    settings = load_settings(
        environ={
            "RETENTION_DATABASE_URL": f"sqlite:///{database}",
            "RETENTION_SUBJECT_KEY": TEST_KEY,
        }
    )
    engine = create_store_engine(settings.database)
    try:
        doomed = [
            with_contact(due_lead(n), message=f"{MARKER} {n} " + "padding " * 200)
            for n in range(1, 40)
        ]
        seed(settings, engine, [*doomed, fresh_lead(100)])
        engine.dispose()  # let the import's WAL frames reach the database file
        assert MARKER.encode() in _files(database)
        with freeze_time(FROZEN_NOW_TEXT):
            run = purge_job(settings, engine, force=True)
        assert run.result is not None and run.result.deleted == 39
        assert run.residue is not None and run.residue.done
        assert MARKER.encode() not in _files(database)
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("vacuum", [True, False], ids=["vacuum", "report-only"])
def test_postgresql_tables_are_vacuumed_or_dead_rows_reported(
    postgres_url: str, vacuum: bool
) -> None:
    settings = load_settings(
        environ={"RETENTION_DATABASE_URL": postgres_url, "RETENTION_SUBJECT_KEY": TEST_KEY}
    )
    settings = dataclasses.replace(
        settings, purge=dataclasses.replace(settings.purge, vacuum=vacuum)
    )
    _empty_tables(postgres_url)
    engine = create_store_engine(settings.database)
    try:
        seed(settings, engine, [due_lead(n) for n in range(1, 20)])
        with freeze_time(FROZEN_NOW_TEXT):
            run = purge_job(settings, engine, force=True)
        assert run.residue is not None
        expected = ("vacuum", True) if vacuum else ("none", False)
        assert (run.residue.action, run.residue.done) == expected
        assert run.residue.dead_rows is not None
    finally:
        engine.dispose()

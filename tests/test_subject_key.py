from __future__ import annotations

import dataclasses
import io
import shutil
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine

from retention.config import Settings, SubjectSettings, load_settings
from retention.errors import SubjectKeyError
from retention.services.importing import import_leads
from retention.services.lead_sources import read_records
from retention.services.subject_key import default_key_file, subject_key_for_store
from retention.storage.engine import create_store_engine
from tests.factories import NOW, make_lead, write_jsonl


def _without_key(settings: Settings) -> Settings:
    return dataclasses.replace(settings, subject=SubjectSettings(key_file=None, key=None))


def _key(settings: Settings, engine: Engine) -> bytes:
    with engine.begin() as conn:
        return subject_key_for_store(settings, conn)


def test_sqlite_store_generates_a_private_key_file_beside_it(
    sqlite_template: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store.db"
    shutil.copyfile(sqlite_template, store)
    database_url = f"sqlite:///{store}"
    settings = _without_key(load_settings(environ={"RETENTION_DATABASE_URL": database_url}))
    engine = create_store_engine(settings.database)
    try:
        key = _key(settings, engine)
        key_file = default_key_file(settings)
        assert key_file == tmp_path / "store.db.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert _key(settings, engine) == key  # reused, not regenerated
        key_file.unlink()
        with pytest.raises(SubjectKeyError, match="does not exist"):
            _key(settings, engine)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_store_needs_an_explicit_key(postgres_url: str) -> None:
    settings = _without_key(load_settings(environ={"RETENTION_DATABASE_URL": postgres_url}))
    engine = create_store_engine(settings.database)
    try:
        with pytest.raises(SubjectKeyError, match="RETENTION_SUBJECT_KEY"):
            _key(settings, engine)
    finally:
        engine.dispose()


def test_another_key_is_refused_before_anything_is_written(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [make_lead(1)])
    import_leads(settings, engine, read_records([str(path)], io.BytesIO()), now=NOW)
    other = dataclasses.replace(
        settings, subject=SubjectSettings(key_file=None, key="another-key-" + "x" * 30)
    )
    with pytest.raises(SubjectKeyError, match="not the key this store was built with"):
        import_leads(other, engine, read_records([str(path)], io.BytesIO()), now=NOW)


def test_key_file_from_config(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    key_file = tmp_path / "subject.key"
    key_file.write_text("from-a-file-" + "y" * 30 + "\n")
    key_file.chmod(0o600)
    from_file = dataclasses.replace(settings, subject=SubjectSettings(key_file=key_file, key=None))
    assert _key(from_file, engine) == ("from-a-file-" + "y" * 30).encode()
    key_file.write_text("short\n")
    with pytest.raises(SubjectKeyError, match="at least 32"):
        _key(from_file, engine)

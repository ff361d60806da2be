"""`retention demo`: a throw-away SQLite store built from the bundled example leads.

It stays clear of real stores: it refuses to touch an existing file it did not create.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine

from retention.config import Settings, SubjectSettings
from retention.errors import InputError
from retention.services.importing import ImportResult, import_leads
from retention.services.lead_sources import read_records
from retention.services.schema import upgrade_schema
from retention.services.store_summary import summarize_store
from retention.storage.engine import create_store_engine
from retention.storage.leads import LeadCounts
from retention.storage.meta import get_meta, set_meta_once

__all__ = ["DemoResult", "build_demo_store", "example_files"]

_DEMO_MARK = "demo_store"


@dataclass(frozen=True, slots=True)
class DemoResult:
    path: Path
    imported: ImportResult
    store: LeadCounts


def example_files() -> list[str]:
    """The synthetic upstream payloads shipped with the package."""
    folder = Path(str(resources.files("retention").joinpath("examples")))
    return sorted(str(path) for path in folder.glob("*.json"))


def _is_demo_store(engine: Engine) -> bool:
    with engine.connect() as conn:
        try:
            return get_meta(conn, _DEMO_MARK) == "yes"
        except Exception:
            return False


def _remove_demo_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".key"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def build_demo_store(settings: Settings, path: Path, *, now: datetime) -> DemoResult:
    """(Re)build the demo store at `path` and import the example leads into it."""
    demo_settings = dataclasses.replace(
        settings,
        database=dataclasses.replace(settings.database, url=f"sqlite:///{path}"),
        subject=SubjectSettings(key_file=None, key=None),
    )
    if path.exists():
        engine = create_store_engine(demo_settings.database)
        try:
            ours = _is_demo_store(engine)
        finally:
            engine.dispose()
        if not ours:
            raise InputError(f"{path} exists and is not a demo store: choose another --path")
        _remove_demo_files(path)
    engine = create_store_engine(demo_settings.database, must_exist=False)
    try:
        upgrade_schema(engine)
        with engine.begin() as conn:
            set_meta_once(conn, _DEMO_MARK, "yes")
        imported = import_leads(
            demo_settings, engine, read_records(example_files(), io.BytesIO()), now=now
        )
        return DemoResult(path=path, imported=imported, store=summarize_store(engine))
    finally:
        engine.dispose()

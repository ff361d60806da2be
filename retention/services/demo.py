"""`retention demo`: a throw-away SQLite store of synthetic leads spanning four years.

It stays clear of real stores: it refuses to touch an existing file it did not create.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from retention.config import Settings, SubjectSettings
from retention.domain.policy import years_before
from retention.errors import InputError
from retention.services.importing import ImportResult, import_leads
from retention.services.lead_sources import SourceRecord
from retention.services.schema import upgrade_schema
from retention.storage.engine import READ_ONLY, create_store_engine
from retention.storage.leads import lead_has_contact, lead_portal, surviving_lead_ids
from retention.storage.meta import get_meta, set_meta_once

__all__ = [
    "COUNTRY_CODES",
    "HELD_DEMO_LEADS",
    "DemoFiles",
    "DemoStore",
    "back_up_demo_store",
    "build_demo_store",
    "demo_phone_number",
    "example_files",
    "lead_holds_contact",
    "restore_demo_backup",
    "surviving_demo_leads",
    "synthetic_leads",
]

_DEMO_MARK = "demo_store"
# Numbers of the synthetic leads the demo places holds on (by lead id and by email).
HELD_DEMO_LEADS = (3, 7)
_PORTALS = ("SLG-FRA", "LIM-FRA", "MAG-FRA", "IWT-DEU", "IMN-DEU", "IWB-BEL", "IWT-AUT")
_CATEGORIES = ("CLASSIFIED", "AGENCY", "PROPERTY_SEARCH")
COUNTRY_CODES = {"FRA": "33", "DEU": "49", "BEL": "32", "AUT": "43"}
_QUARTER = 91 * 24 * 3600


@dataclass(frozen=True, slots=True)
class DemoStore:
    settings: Settings  # settings pointing at the demo store
    engine: Engine
    imported: ImportResult


def example_files() -> list[str]:
    """The synthetic upstream payloads shipped with the package."""
    folder = Path(str(resources.files("retention").joinpath("examples")))
    return sorted(str(path) for path in folder.glob("*.json"))


def synthetic_leads(now: datetime, count: int, *, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` fake leads ingested over the four years before `now`; TTL three years after
    ingestion, except every 50th lead, whose upstream TTL is wrongly five years (the ceiling
    rule catches those). Names, emails and numbers are visibly fake."""
    rng = random.Random(seed)
    span = int((now - years_before(now, 4)).total_seconds())
    for n in range(1, count + 1):
        ingested = now - timedelta(seconds=rng.randrange(3600, span))
        if n in HELD_DEMO_LEADS:  # the leads the demo holds are past their TTL
            ingested = now - timedelta(days=3 * 365 + 100)
        ttl_years = 5 if n % 50 == 0 else 3
        ttl = ingested.replace(year=ingested.year + ttl_years, day=min(ingested.day, 28))
        portal = rng.choice(_PORTALS)
        category = rng.choice(_CATEGORIES)
        lead: dict[str, Any] = {
            "metadata": {
                "leadId": f"demo-{n:06d}",
                "ingestionDate": int(ingested.timestamp()),
                "portal": portal,
                "TTL": int(ttl.timestamp()),
                "leadCategory": category,
            },
            "contactRequest": {
                "firstName": f"Demo{n}",
                "lastName": "Fictif",
                "email": f"demo.seeker.{n}@example.com",
                "phoneNumbers": [
                    {"type": "MOBILE", "number": f"+{COUNTRY_CODES[portal[-3:]]}600{n:06d}"}
                ],
                "message": "Synthetic demo message.",
            },
        }
        if category == "CLASSIFIED":
            lead["property"] = {"classifiedId": "01ABCDEFGH12"}
        if category == "PROPERTY_SEARCH":
            lead["distributionType"] = ["BUYER"]
        yield lead


def _is_demo_store(engine: Engine) -> bool:
    with engine.connect() as conn:
        try:
            return get_meta(conn, _DEMO_MARK) == "yes"
        except Exception:  # any unreadable file is simply not ours
            return False


@dataclass(frozen=True, slots=True)
class DemoFiles:
    """The demo's files, all beside its store: `retention-demo.db` and `retention-demo*`."""

    store: Path
    journal: Path  # audit.journal_file
    anchors: Path  # audit.anchor_file
    backup: Path  # the store as the month's backup took it
    restored: Path  # that backup restored, then replayed
    report: Path  # the month's HTML report

    @classmethod
    def beside(cls, path: Path) -> DemoFiles:
        def named(suffix: str) -> Path:
            return path.with_name(f"{path.stem}{suffix}")

        return cls(path, named(".journal.jsonl"), named(".anchors"), named("-backup.db"),
                   named("-restored.db"), named("-report.html"))  # fmt: skip

    def remove(self) -> None:
        for store in (self.store, self.backup, self.restored):
            for suffix in ("", "-wal", "-shm", ".key"):
                store.with_name(store.name + suffix).unlink(missing_ok=True)
        for path in (self.journal, self.anchors, self.report):
            path.unlink(missing_ok=True)


def back_up_demo_store(files: DemoFiles) -> None:
    """A backup of the demo store as an operator takes one (SQLite's online backup), with the
    key file beside it; readable by its owner only, like the store."""
    with sqlite3.connect(files.store) as source, sqlite3.connect(files.backup) as target:
        source.backup(target)
    source.close()
    target.close()
    os.chmod(files.backup, 0o600)
    _copy_key(files.store, files.backup)


def restore_demo_backup(settings: Settings, files: DemoFiles) -> Settings:
    """The backup restored as a store of its own (the demo store stays as it is); settings for
    it, with the same journal and anchor file."""
    shutil.copyfile(files.backup, files.restored)
    os.chmod(files.restored, 0o600)
    _copy_key(files.backup, files.restored)
    return dataclasses.replace(
        settings, database=dataclasses.replace(settings.database, url=f"sqlite:///{files.restored}")
    )


def _copy_key(store: Path, copy: Path) -> None:
    key = store.with_name(store.name + ".key")
    if key.exists():
        shutil.copyfile(key, copy.with_name(copy.name + ".key"))
        os.chmod(copy.with_name(copy.name + ".key"), 0o600)


def lead_holds_contact(engine: Engine, lead_id: str) -> bool | None:
    """Whether a demo lead still holds contact data (None: it is not stored)."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return lead_has_contact(conn, lead_id)


def build_demo_store(settings: Settings, path: Path, *, now: datetime, leads: int) -> DemoStore:
    """(Re)build the demo store at `path` with `leads` synthetic leads, imported as they
    arrived over the past four years. The caller disposes of the returned engine."""
    files = DemoFiles.beside(path)
    demo_settings = dataclasses.replace(
        settings,
        database=dataclasses.replace(settings.database, url=f"sqlite:///{path}"),
        subject=SubjectSettings(key_file=None, key=None),
        # The demo's own journal and anchor file, beside it: never the real store's.
        audit=dataclasses.replace(
            settings.audit, journal_file=files.journal, anchor_file=files.anchors
        ),
    )
    if not path.parent.is_dir():
        raise InputError(f"--path: folder {path.parent} does not exist")
    if path.exists():
        engine = create_store_engine(demo_settings.database)
        try:
            ours = _is_demo_store(engine)
        finally:
            engine.dispose()
        if not ours:
            raise InputError(f"{path} exists and is not a demo store: choose another --path")
    files.remove()  # and what an earlier demo left beside it: its journal, backup, ...
    engine = create_store_engine(demo_settings.database, must_exist=False)
    upgrade_schema(engine)
    with engine.begin() as conn:
        set_meta_once(conn, _DEMO_MARK, "yes")
    imported = _import_as_they_arrived(demo_settings, engine, synthetic_leads(now, leads))
    return DemoStore(demo_settings, engine, imported)


def _import_as_they_arrived(
    settings: Settings, engine: Engine, generated: Iterator[dict[str, Any]]
) -> ImportResult:
    """Import the leads the way a store fills up over the years: oldest first, a quarter's
    worth at a time, each import as of the newest ingestion date it holds (an import refuses a
    lead ingested after its clock, and does not store one due already)."""
    ordered = sorted(generated, key=lambda lead: lead["metadata"]["ingestionDate"])
    totals = dict.fromkeys(("imported", "updated", "rejected", "erased", "expired", "held"), 0)
    result: ImportResult | None = None
    start = 0
    while start < len(ordered):
        first = ordered[start]["metadata"]["ingestionDate"]
        end = start
        while end < len(ordered) and ordered[end]["metadata"]["ingestionDate"] < first + _QUARTER:
            end += 1
        chunk = ordered[start:end]
        records = (
            SourceRecord("demo", f"item {start + index}", value=lead)
            for index, lead in enumerate(chunk, start=1)
        )
        as_of = datetime.fromtimestamp(chunk[-1]["metadata"]["ingestionDate"], UTC)
        result = import_leads(settings, engine, records, now=as_of)
        for name, value in (
            ("imported", result.imported), ("updated", result.updated),
            ("rejected", result.rejected), ("erased", result.erased_on_import),
            ("expired", result.expired_on_arrival), ("held", result.hold_skipped),
        ):  # fmt: skip
            totals[name] += value
        start = end
    assert result is not None, "the demo store has at least one lead"
    return dataclasses.replace(
        result,
        imported=totals["imported"],
        updated=totals["updated"],
        rejected=totals["rejected"],
        erased_on_import=totals["erased"],
        expired_on_arrival=totals["expired"],
        hold_skipped=totals["held"],
    )


def surviving_demo_leads(engine: Engine, *, limit: int) -> list[str]:
    """The first `limit` demo leads not erased, in id order."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return surviving_lead_ids(conn, limit=limit)


def demo_phone_number(engine: Engine, n: int) -> str:
    """Demo lead n's phone number as a person would type it (+CC 600...)."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        portal = lead_portal(conn, f"demo-{n:06d}")
    return f"+{COUNTRY_CODES[str(portal)[-3:]]} 600 {n:06d}"

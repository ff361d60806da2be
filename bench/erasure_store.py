"""The erasure benchmark's stores: the template built through the real import, its copies, the
floor.

The template holds `--leads` synthetic leads (bench/synthetic.py, a mobile and a landline
number each) whose every SPREAD-th lead, up to `--requests` * 3, belongs to a requesting
seeker (3 leads each), LATENCY_SUBJECTS more seekers for the single erases, and one queued
erasure request per requesting seeker. A copy is a file (SQLite) or a database created from
the template (PostgreSQL: PREFIX_template, PREFIX_floor, PREFIX_job). The floor is one
set-based UPDATE of the leads a job would erase, optionally with the DELETE of their subject
hashes. The library is imported in the functions: the benchmark puts the code under test on
sys.path first.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import (
    DUMMY_SUBJECT_KEY,
    checkpoint_sqlite,
    log,
    pg_execute,
    remove_sqlite_store,
)
from synthetic import SEED, default_email, iter_leads

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from retention.config import Settings

__all__ = [
    "SPREAD",
    "Backend",
    "PostgresBackend",
    "SQLiteBackend",
    "build",
    "floor",
    "settings_for",
]

FIELDS = ("firstName", "lastName", "name", "gender", "language", "message", "email", "isOwner")
COLUMNS = ("first_name", "last_name", "name", "gender", "language", "message", "email", "is_owner")
SPREAD = 33  # every 33rd lead belongs to a requesting seeker
LATENCY_SUBJECTS = 20


def seeker_emails(requests: int) -> Callable[[int], str]:
    """Lead n's email: every SPREAD-th of the first requests*3*SPREAD leads belongs to a
    requesting seeker (3 leads each); LATENCY_SUBJECTS more seekers follow."""

    def email(n: int) -> str:
        if n % SPREAD == 0 and n // SPREAD < requests * 3:
            return f"erase.seeker.{(n // SPREAD) // 3}@example.com"
        if n % SPREAD == 1 and n // SPREAD < LATENCY_SUBJECTS * 3:
            return f"latency.seeker.{(n // SPREAD) // 3}@example.com"
        return default_email(n)

    return email


class Backend:
    name = ""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir

    def url(self, copy: str) -> str:
        raise NotImplementedError

    def create(self, copy: str) -> None:
        """An empty store named `copy`."""
        self.drop(copy)

    def copy(self, source: str, target: str) -> None:
        raise NotImplementedError

    def drop(self, copy: str) -> None:
        raise NotImplementedError

    def floor_sql(self, engine: Engine) -> str:
        raise NotImplementedError

    def quiesce(self, copy: str) -> None:
        raise NotImplementedError

    def bind_now(self, now: datetime) -> Any:
        return now


class SQLiteBackend(Backend):
    name = "sqlite"

    def path(self, copy: str) -> Path:
        return self.workdir / f"{copy}.db"

    def url(self, copy: str) -> str:
        return f"sqlite:///{self.path(copy)}"

    def copy(self, source: str, target: str) -> None:
        self.quiesce(source)
        shutil.copyfile(self.path(source), self.path(target))

    def drop(self, copy: str) -> None:
        remove_sqlite_store(self.path(copy))

    def quiesce(self, copy: str) -> None:
        checkpoint_sqlite(self.path(copy))

    def floor_sql(self, engine: Engine) -> str:
        paths = "".join(f", '$.contactRequest.{f}', NULL" for f in FIELDS)
        sets = ", ".join(f"{c} = NULL" for c in COLUMNS)
        return (
            f"UPDATE leads SET {sets}, phone_numbers = '[]', "
            f"payload = json_set(payload{paths}, '$.contactRequest.phoneNumbers', json('[]')), "
            "erased_at = :now, updated_at = :now "
            "WHERE lead_id IN (SELECT lead_id FROM floor_ids)"
        )

    def bind_now(self, now: datetime) -> Any:
        return now.strftime("%Y-%m-%d %H:%M:%S.%f")


class PostgresBackend(Backend):
    name = "postgresql"

    def database(self, copy: str) -> str:
        return f"{self.args.pg_prefix}_{copy}"

    def url(self, copy: str) -> str:
        return f"{self.args.pg_url.rsplit('/', 1)[0]}/{self.database(copy)}"

    def create(self, copy: str) -> None:
        super().create(copy)
        pg_execute(self.args.pg_url, f"CREATE DATABASE {self.database(copy)}")

    def copy(self, source: str, target: str) -> None:
        self.drop(target)
        pg_execute(
            self.args.pg_url,
            f"CREATE DATABASE {self.database(target)} TEMPLATE {self.database(source)}",
        )

    def drop(self, copy: str) -> None:
        pg_execute(self.args.pg_url, f"DROP DATABASE IF EXISTS {self.database(copy)} WITH (FORCE)")

    def quiesce(self, copy: str) -> None:
        pg_execute(self.url(copy), "VACUUM ANALYZE", "CHECKPOINT")

    def floor_sql(self, engine: Engine) -> str:
        from sqlalchemy import text

        with engine.connect() as conn:
            payload_type = conn.scalar(
                text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'leads' AND column_name = 'payload'"
                )
            )
        sets = ", ".join(f"{c} = NULL" for c in COLUMNS)
        erased = "{" + ", ".join(f'"{f}": null' for f in FIELDS) + ', "phoneNumbers": []}'
        return (
            f"UPDATE leads SET {sets}, phone_numbers = '[]'::jsonb, "
            "payload = CAST(jsonb_set(CAST(payload AS jsonb), '{contactRequest}', "
            f"(CAST(payload AS jsonb) -> 'contactRequest') || '{erased}'::jsonb) "
            f"AS {payload_type}), erased_at = :now, updated_at = :now "
            "WHERE lead_id IN (SELECT lead_id FROM floor_ids)"
        )


def settings_for(url: str, workers: int | None = None) -> Settings:
    from retention.config import load_settings

    settings = load_settings(
        environ={"RETENTION_DATABASE_URL": url, "RETENTION_SUBJECT_KEY": DUMMY_SUBJECT_KEY},
    )
    if workers is None:
        return settings
    return dataclasses.replace(
        settings, erasure=dataclasses.replace(settings.erasure, workers=workers)
    )


def build(backend: Backend, args: argparse.Namespace, now: datetime) -> float:
    from retention.services.importing import import_leads
    from retention.services.lead_sources import SourceRecord
    from retention.services.requests import import_requests
    from retention.services.schema import upgrade_schema
    from retention.storage.engine import create_store_engine

    started = time.perf_counter()
    backend.create("template")
    settings = settings_for(backend.url("template"))
    engine = create_store_engine(settings.database, must_exist=False)
    upgrade_schema(engine)
    log(f"{backend.name}: importing {args.leads:,} leads")
    leads = iter_leads(args.leads, SEED, now, email=seeker_emails(args.requests), landline_share=1)
    records = (SourceRecord("bench", f"item {n}", value=lead) for n, lead in enumerate(leads))
    result = import_leads(settings, engine, records, now=now)
    assert result.imported == args.leads, result
    csv_path = backend.workdir / "requests.csv"
    with csv_path.open("w", encoding="utf-8") as handle:
        handle.write("kind,value,received_at,reference\n")
        for subject in range(args.requests):
            handle.write(f"email,erase.seeker.{subject}@example.com,,BENCH-{subject}\n")
    queued = import_requests(settings, engine, csv_path, now=now)
    assert queued.added == args.requests, queued
    engine.dispose()
    backend.quiesce("template")
    return time.perf_counter() - started


# The same-work floor also drops the erased leads' subject hashes, as the job does: reported
# beside the floor (which stays the target's reference) to show what that delete costs.
UNLINK_SQL = "DELETE FROM lead_subjects WHERE lead_id IN (SELECT lead_id FROM floor_ids)"


def floor(backend: Backend, now: datetime, *, unlink: bool = False) -> tuple[float, int]:
    from sqlalchemy import text

    from retention.storage.engine import create_store_engine

    # The store's own engine: the same SQLite pragmas (secure_delete, WAL, synchronous) as
    # the job's.
    engine = create_store_engine(settings_for(backend.url("floor")).database)
    sql = backend.floor_sql(engine)
    with engine.connect() as conn:
        conn.execute(text("CREATE TEMPORARY TABLE floor_ids (lead_id VARCHAR(200) PRIMARY KEY)"))
        conn.execute(
            text(
                "INSERT INTO floor_ids SELECT lead_id FROM leads WHERE email LIKE 'erase.seeker.%'"
            )
        )
        conn.commit()
        if backend.name == "postgresql":
            conn.exec_driver_sql("ANALYZE floor_ids")
            conn.commit()
        started = time.perf_counter()
        updated = conn.execute(text(sql), {"now": backend.bind_now(now)}).rowcount
        if unlink:
            deleted = conn.execute(text(UNLINK_SQL)).rowcount
            if deleted < updated:
                raise SystemExit(f"floor+hashes deleted {deleted} hashes of {updated} leads")
        conn.commit()
        seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, updated

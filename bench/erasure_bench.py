"""Benchmark of the erasure: the erasure job against the raw floor, and one `retention erase`.

Run by hand, never by the test suite (it builds stores of a million leads):

    /work/venv/bin/python bench/erasure_bench.py                      # both backends
    /work/venv/bin/python bench/erasure_bench.py --backends sqlite --leads 100000
    # PostgreSQL job timed with 1 and with 2 workers, on the store of an earlier --keep run:
    /work/venv/bin/python bench/erasure_bench.py --backends postgresql --workers 1,2 \
        --workdir /tmp/ebench --keep --reuse

What it does, per backend:

1. Builds a store of `--leads` synthetic leads (default 1,000,000, ~1.7 KB of JSON each) through
   the real import, with `--requests` seekers (default 10,000) owning 3 leads each, spread over
   the store, and 20 more such seekers for the single-erase timing. Queues one erasure request
   per seeker (a CSV file through the real `requests import`). Each measurement runs on a copy
   of that store (SQLite: the file; PostgreSQL: CREATE DATABASE ... TEMPLATE).
2. Floor, on the first copy: one set-based UPDATE of the same rows, columns and JSON (the
   policy's columns null, phone_numbers and payload.contactRequest.phoneNumbers [], the
   policy's payload fields null, erased_at set), given the lead ids, and its commit. Then,
   on a fresh copy, the same UPDATE plus one DELETE of those leads' `lead_subjects` rows in
   the same transaction ("floor+hashes"): the job drops an erased lead's subject hashes too,
   and this shows what that costs. The target's ratio is against the first floor.
3. Job, on another copy (a fresh one for each run; by default the config's
   `erasure.workers`, 2 on PostgreSQL): `process_requests` (what `retention run erasure` does:
   every request, its leads found through the subject hashes, held leads checked, the leads erased,
   read back and verified, one audit event per lead and per request), timed in-process; then
   the residue step (SQLite WAL checkpoint, PostgreSQL VACUUM of the changed tables), timed
   apart. The ratio is floor seconds / job seconds (the target: at least 0.5). The floors
   and each job are timed `--repeat` times (default 3), each on a fresh copy: the table
   shows the median floors and the job run of median time (its residue, rows/s, counts), the
   line under it the ranges (median_low when the count is even).
4. Single erase: `retention erase --email` of a seeker with 3 leads, as a new process each time
   (interpreter start included), 7 times on the job's store; min, median and max wall time
   (the target: under 0.5 s).

Nothing here asserts timings. Stores are removed at the end unless --keep.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402

from retention.config import load_settings  # noqa: E402
from retention.services.erasure import process_requests  # noqa: E402
from retention.services.importing import import_leads  # noqa: E402
from retention.services.lead_sources import SourceRecord  # noqa: E402
from retention.services.requests import import_requests  # noqa: E402
from retention.services.schema import upgrade_schema  # noqa: E402
from retention.storage.dialect import concurrent_workers  # noqa: E402
from retention.storage.engine import create_store_engine  # noqa: E402
from retention.storage.residue import clean_residue  # noqa: E402

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_PREFIX = "erasure_bench"
KEY = "erasure-bench-dummy-subject-key-000000000"
FIELDS = ("firstName", "lastName", "name", "gender", "language", "message", "email", "isOwner")
COLUMNS = ("first_name", "last_name", "name", "gender", "language", "message", "email", "is_owner")
SPREAD = 33  # every 33rd lead belongs to a requesting seeker
LATENCY_SUBJECTS = 20
LATENCY_RUNS = 7
YEAR = 365 * 86_400
SENTENCE = (
    "Bonjour, je souhaite visiter ce bien fictif dès que possible, idéalement en fin de "
    "semaine. Pourriez-vous me communiquer le montant des charges et de la taxe foncière ? "
)


def say(line: str = "") -> None:
    print(line, flush=True)  # noqa: T201


def log(line: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)  # noqa: T201


def synthetic_leads(count: int, requests: int, now: int) -> Iterator[dict[str, Any]]:
    """Leads numbered 0..count-1; every SPREAD-th of the first requests*3*SPREAD belongs to a
    requesting seeker (3 leads each); LATENCY_SUBJECTS more seekers follow."""
    requesting = requests * 3
    for n in range(count):
        if n % SPREAD == 0 and n // SPREAD < requesting:
            email = f"erase.seeker.{(n // SPREAD) // 3}@example.com"
        elif n % SPREAD == 1 and n // SPREAD < LATENCY_SUBJECTS * 3:
            email = f"latency.seeker.{(n // SPREAD) // 3}@example.com"
        else:
            email = f"bench.seeker.{n}@example.com"
        ingested = now - 86_400 - (n * 7919) % (2 * YEAR)
        yield {
            "metadata": {
                "leadId": f"bench-{n:08d}",
                "ingestionDate": ingested,
                "portal": ("SLG-FRA", "IWT-DEU", "IWB-BEL", "IWT-AUT")[n % 4],
                "TTL": ingested + 3 * YEAR,
                "leadCategory": "CLASSIFIED",
            },
            "contactRequest": {
                "firstName": f"Prénom{n % 997}",
                "lastName": f"Nomfictif{n % 991}",
                "gender": "FEMALE",
                "email": email,
                "language": "FR",
                "phoneNumbers": [
                    {"type": "MOBILE", "number": f"+3361{n:07d}", "verified": True},
                    {"type": "LANDLINE", "number": f"+3314{n:07d}", "verified": False},
                ],
                "message": SENTENCE * (6 + n % 4),
                "isOwner": n % 2 == 0,
            },
            "property": {
                "classifiedId": f"{n:012X}",
                "offererEstateId": f"FAKE-ESTATE-{n}",
                "offererMarketingKey": f"REF-BENCH-{n % 100_000}",
            },
        }


class Backend:
    name = ""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir

    def url(self, copy: str) -> str:
        raise NotImplementedError

    def copy(self, source: str, target: str) -> None:
        raise NotImplementedError

    def drop(self, copy: str) -> None:
        raise NotImplementedError

    def floor_sql(self, engine: Any) -> str:
        raise NotImplementedError

    def quiesce(self, url: str) -> None:
        raise NotImplementedError


class SQLiteBackend(Backend):
    name = "sqlite"

    def path(self, copy: str) -> Path:
        return self.workdir / f"{copy}.db"

    def url(self, copy: str) -> str:
        return f"sqlite:///{self.path(copy)}"

    def copy(self, source: str, target: str) -> None:
        self.quiesce(self.url(source))
        shutil.copyfile(self.path(source), self.path(target))

    def drop(self, copy: str) -> None:
        for suffix in ("", "-wal", "-shm", ".key"):
            Path(str(self.path(copy)) + suffix).unlink(missing_ok=True)

    def quiesce(self, url: str) -> None:
        engine = create_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()
        os.sync()

    def floor_sql(self, engine: Any) -> str:
        paths = "".join(f", '$.contactRequest.{f}', NULL" for f in FIELDS)
        sets = ", ".join(f"{c} = NULL" for c in COLUMNS)
        return (
            f"UPDATE leads SET {sets}, phone_numbers = '[]', "
            f"payload = json_set(payload{paths}, '$.contactRequest.phoneNumbers', json('[]')), "
            "erased_at = :now, updated_at = :now "
            "WHERE lead_id IN (SELECT lead_id FROM floor_ids)"
        )


class PostgresBackend(Backend):
    name = "postgresql"

    def _admin(self) -> Any:
        return create_engine(self.args.pg_url, isolation_level="AUTOCOMMIT")

    def url(self, copy: str) -> str:
        base = self.args.pg_url.rsplit("/", 1)[0]
        return f"{base}/{PG_PREFIX}_{copy}"

    def copy(self, source: str, target: str) -> None:
        self.drop(target)
        admin = self._admin()
        with admin.connect() as conn:
            conn.exec_driver_sql(
                f"CREATE DATABASE {PG_PREFIX}_{target} TEMPLATE {PG_PREFIX}_{source}"
            )
        admin.dispose()

    def create(self, copy: str) -> None:
        self.drop(copy)
        admin = self._admin()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {PG_PREFIX}_{copy}")
        admin.dispose()

    def drop(self, copy: str) -> None:
        admin = self._admin()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_PREFIX}_{copy} WITH (FORCE)")
        admin.dispose()

    def quiesce(self, url: str) -> None:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
            conn.exec_driver_sql("CHECKPOINT")
        engine.dispose()

    def floor_sql(self, engine: Any) -> str:
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


def settings_for(url: str) -> Any:
    return load_settings(
        environ={"RETENTION_DATABASE_URL": url, "RETENTION_SUBJECT_KEY": KEY},
    )


def build(backend: Backend, args: argparse.Namespace, now: datetime) -> float:
    started = time.perf_counter()
    if isinstance(backend, PostgresBackend):
        backend.create("template")
    else:
        backend.drop("template")
    settings = settings_for(backend.url("template"))
    engine = create_store_engine(settings.database, must_exist=False)
    upgrade_schema(engine)
    log(f"{backend.name}: importing {args.leads:,} leads")
    records = (
        SourceRecord("bench", f"item {n}", value=lead)
        for n, lead in enumerate(synthetic_leads(args.leads, args.requests, int(now.timestamp())))
    )
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
    backend.quiesce(backend.url("template"))
    return time.perf_counter() - started


# The same-work floor also drops the erased leads' subject hashes, as the job does: reported
# beside the floor (which stays the target's reference) to show what that delete costs.
UNLINK_SQL = "DELETE FROM lead_subjects WHERE lead_id IN (SELECT lead_id FROM floor_ids)"


def floor(backend: Backend, now: datetime, *, unlink: bool = False) -> tuple[float, int]:
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
        updated = conn.execute(text(sql), {"now": _bind_now(backend, now)}).rowcount
        if unlink:
            deleted = conn.execute(text(UNLINK_SQL)).rowcount
            if deleted < updated:
                raise SystemExit(f"floor+hashes deleted {deleted} hashes of {updated} leads")
        conn.commit()
        seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, updated


def _bind_now(backend: Backend, now: datetime) -> Any:
    if backend.name == "sqlite":
        return now.strftime("%Y-%m-%d %H:%M:%S.%f")
    return now


def job(backend: Backend, now: datetime, workers: int | None) -> dict[str, Any]:
    settings = settings_for(backend.url("job"))
    if workers is not None:
        settings = dataclasses.replace(
            settings, erasure=dataclasses.replace(settings.erasure, workers=workers)
        )
    engine = create_store_engine(settings.database)
    started = time.perf_counter()
    result = process_requests(settings, engine, now=now, run_id=None)
    erased = time.perf_counter()
    residue = clean_residue(
        engine, ("leads", "lead_subjects", "erasure_requests"), vacuum=settings.erasure.vacuum
    )
    ended = time.perf_counter()
    engine.dispose()
    return {
        "seconds": erased - started,
        "residue_seconds": ended - erased,
        "requests": result.requests,
        "completed": result.completed,
        "failed": result.failed,
        "leads_erased": result.leads_erased,
        "batches": result.batches,
        "residue": residue.as_dict(),
        "workers": concurrent_workers(engine, settings.erasure.workers),
    }


def single_erase(backend: Backend) -> list[float]:
    env = {
        **os.environ,
        "RETENTION_DATABASE_URL": backend.url("job"),
        "RETENTION_SUBJECT_KEY": KEY,
    }
    command = [str(Path(sys.executable).with_name("retention")), "-q", "erase", "--json"]
    times = []
    for subject in range(LATENCY_RUNS):
        started = time.perf_counter()
        done = subprocess.run(
            [*command, "--email", f"Latency.Seeker.{subject}@example.com"],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        times.append(time.perf_counter() - started)
        if done.returncode != 0 or '"leads_erased": 3' not in done.stdout:
            raise SystemExit(f"single erase failed: {done.stdout} {done.stderr}")
    return times


def run_backend(backend: Backend, args: argparse.Namespace) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(microsecond=0)
    if args.reuse:
        log(f"{backend.name}: reusing the store built by an earlier --keep run")
    else:
        build_seconds = build(backend, args, now)
        log(f"{backend.name}: store built in {build_seconds:.0f} s; copying")
    floors, unlinks = [], []
    floor_rows = 0
    for _ in range(args.repeat):  # each on a fresh copy
        backend.copy("template", "floor")
        backend.quiesce(backend.url("floor"))
        seconds, floor_rows = floor(backend, now)
        floors.append(seconds)
        log(f"{backend.name}: floor {floor_rows:,} rows in {seconds:.2f} s")
        backend.copy("template", "floor")
        backend.quiesce(backend.url("floor"))
        seconds, _ = floor(backend, now, unlink=True)
        unlinks.append(seconds)
        log(f"{backend.name}: floor with the subject hash delete {seconds:.2f} s")
    rows = []
    for workers in args.workers or [None]:
        jobs = []
        for _ in range(args.repeat):
            backend.copy("template", "job")  # a fresh copy for each job run
            backend.quiesce(backend.url("job"))
            measured = job(backend, now, workers)
            log(f"{backend.name}: job {measured}")
            jobs.append(measured)
        # The run of median time (the lower one of two middle runs, as median_low)
        middle = sorted(jobs, key=lambda j: float(j["seconds"]))[(len(jobs) - 1) // 2]
        rows.append(
            {"backend": backend.name, "floor_seconds": statistics.median_low(floors),
             "floor_range": (min(floors), max(floors)), "floor_rows": floor_rows,
             "unlink_floor_seconds": statistics.median_low(unlinks),
             "unlink_range": (min(unlinks), max(unlinks)),
             "job_range": (min(j["seconds"] for j in jobs), max(j["seconds"] for j in jobs)),
             **middle}
        )  # fmt: skip
    latencies = single_erase(backend)  # on the last job's store
    if not args.keep:
        for copy in ("template", "floor", "job"):
            backend.drop(copy)
    for row in rows:
        row["latencies"] = latencies
    return rows


def report(rows: Sequence[dict[str, Any]], args: argparse.Namespace) -> None:
    say()
    say(
        f"erasure benchmark: {args.leads:,} leads, {args.requests:,} requests of 3 leads; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    say(
        f"{'backend':<11} {'workers':>7} {'floor s':>8} {'job s':>8} {'ratio':>6} "
        f"{'residue s':>10} {'rows/s job':>11} {'erase min/med/max s':>22} "
        f"{'floor+hashes s':>15} {'ratio+h':>7}"
    )
    for row in rows:
        ratio = row["floor_seconds"] / row["seconds"] if row["seconds"] else 0.0
        lat = row["latencies"]
        say(
            f"{row['backend']:<11} {row['workers']:>7} {row['floor_seconds']:>8.2f} "
            f"{row['seconds']:>8.2f} "
            f"{ratio:>6.2f} {row['residue_seconds']:>10.2f} "
            f"{row['leads_erased'] / row['seconds']:>11,.0f} "
            f"{min(lat):>8.3f}/{statistics.median(lat):.3f}/{max(lat):.3f} "
            f"{row['unlink_floor_seconds']:>15.2f} "
            f"{row['unlink_floor_seconds'] / row['seconds'] if row['seconds'] else 0.0:>7.2f}"
        )
        say(
            f"  {row['backend']}: {row['requests']:,} requests, {row['completed']:,} completed, "
            f"{row['failed']} failed, {row['leads_erased']:,} leads erased in "
            f"{row['batches']} batches (floor updated {row['floor_rows']:,}); ranges of "
            f"{args.repeat} runs: floor {row['floor_range'][0]:.2f} to "
            f"{row['floor_range'][1]:.2f} s, floor+hashes {row['unlink_range'][0]:.2f} to "
            f"{row['unlink_range'][1]:.2f} s, "
            f"job {row['job_range'][0]:.2f} to {row['job_range'][1]:.2f} s; ratio target "
            f"0.5: {'met' if ratio >= 0.5 else 'MISSED'}; single erase target 0.5 s: "
            f"{'met' if statistics.median(lat) < 0.5 else 'MISSED'} (median)"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="an admin URL (CREATE DATABASE)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument(
        "--workers",
        type=lambda text: [int(n) for n in text.split(",")],
        default=None,
        help="erasure.workers of the job, e.g. 1,2 to time the job once with each on a fresh "
        "copy (default: the config's; SQLite always runs 1)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="floors and jobs timed this many times, each on a fresh copy; the table shows "
        "medians and the range (default 3)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="reuse the template store of an earlier --keep run (same --workdir, --leads, "
        "--requests) instead of building it again",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.leads < args.requests * 3 * SPREAD:
        parser.error(f"--leads must be at least {args.requests * 3 * SPREAD} for --requests")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="erasure-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in args.backends.split(","):
        backend: Backend = (SQLiteBackend if name == "sqlite" else PostgresBackend)(args, workdir)
        rows += run_backend(backend, args)
    report(rows, args)
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

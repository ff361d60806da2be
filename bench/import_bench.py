"""Benchmark of `retention import`: throughput (leads/s) and peak memory (RSS) of the import.

Run by hand, never by the test suite (it takes minutes and writes gigabytes of temp files).
Use the Python of the venv where lead-retention is installed:

    # 200,000 leads, JSON Lines / JSON array / page, SQLite and PostgreSQL, plus re-imports:
    /work/venv/bin/python bench/import_bench.py

    # smaller and narrower:
    /work/venv/bin/python bench/import_bench.py --leads 20000 --backends sqlite --formats jsonl

    # also import 100,000 and 1,000,000 JSON Lines leads and compare their peak RSS:
    /work/venv/bin/python bench/import_bench.py --peak-memory-million

    # also profile one PostgreSQL JSON Lines import of 50,000 leads with cProfile (every
    # thread, the batch writer's too; stats in /tmp/imp.prof, .main and .threads):
    /work/venv/bin/python bench/import_bench.py --leads 0 --profile-leads 50000

    # pin the code under test to a commit (the working tree may change under a long run),
    # and keep the generated files in bench/out (git-ignored) for the next run:
    /work/venv/bin/python bench/import_bench.py --code HEAD --workdir bench/out

Run it on a quiet machine: the table's load1 column shows the load average before each run.

What it does:

1. Generates synthetic leads (fake names, example.com emails, +3360000xxxx phones; about
   1.7 KB of compact JSON each, mixed categories and portals, TTL in the future), streamed to
   files as JSON Lines, a pretty-printed JSON array and a pretty-printed paginatedResultSet page.
2. For each backend and format: a fresh store (a new SQLite file; PostgreSQL: the schema
   `retention_bench` dropped and created again), `retention db upgrade`, then
   `retention import FILE --json` in a child process. The child's wall time, CPU time and own
   peak RSS (`os.wait4` rusage of that pid) are recorded. For JSON Lines the same file is then
   imported a second time into the same store: "re-import (updates)".
3. Prints a summary table (wall time, leads/s, peak RSS, CPU of the client, of PostgreSQL and of
   anything else, flagging runs disturbed by other processes) and the ratio of the PostgreSQL
   JSON Lines throughput to the 10,000 leads/s target.

The PostgreSQL schema `retention_bench` is dropped at the end. Nothing here asserts timings.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_PG_SCHEMA = "retention_bench"
# A dummy 40-character subject key: the benchmark's stores hold synthetic data only.
DUMMY_SUBJECT_KEY = "bench-dummy-subject-key-0000000000000000"
TARGET_LEADS_PER_SECOND = 10_000
PEAK_MEMORY_COUNTS = (100_000, 1_000_000)
# A run during which other processes used more CPU than this fraction of its wall time is
# flagged as unreliable.
NOISY_OTHER_FRACTION = 0.10
NOISY_OTHER_MIN_SECONDS = 2.0
# Frames of the command-line wrappers, whose cumulative time is the whole run: not informative.
PROFILE_WRAPPERS = (
    r"^(?!.*(/click/|runpy|<string>|retention/__main__\.py|retention/cli/|builtins\.exec))"
)
FORMATS = ("jsonl", "array", "page")
BACKENDS = ("sqlite", "postgresql")
FILE_SUFFIX = {"jsonl": "jsonl", "array": "array.json", "page": "page.json"}
REPO = Path(__file__).resolve().parents[1]
GENERATOR_VERSION = "v1"  # part of the file names: bump when the generated content changes

# --- synthetic lead generation ---------------------------------------------------------------

PORTALS = (
    ("SLG-FRA", 30), ("IWT-DEU", 20), ("IWB-BEL", 10), ("IWT-AUT", 8), ("LIM-FRA", 8),
    ("MAG-FRA", 6), ("BDS-FRA", 6), ("IMN-DEU", 6), ("SIG-FRA", 6),
)  # fmt: skip
CATEGORIES = (("CLASSIFIED", 60), ("PROPERTY_SEARCH", 25), ("AGENCY", 15))
LANGUAGE_OF_COUNTRY = {"FRA": "FR", "DEU": "DE", "BEL": "FR", "AUT": "DE"}
FIRST_NAMES = (
    "Jeanne", "Luc", "Marie", "Paul", "Élodie", "Hélène", "François", "Jürgen", "Anna", "Lukas",
    "Sophie", "Thomas", "Chloé", "Léa", "Maximilian", "Zoë", "Noémie", "Björn", "Inès", "Emma",
)  # fmt: skip
LAST_NAMES = (
    "Exemple", "Beispiel", "Fictif", "Muster", "Testeur", "Placeholder", "Dupont-Fictif",
    "Müller-Beispiel", "Lefèvre-Exemple", "Schröder-Muster", "Voorbeeld", "Synthétique",
)  # fmt: skip
GENDERS = ("MALE", "FEMALE", "OTHER", "PREFER_NOT_TO_DISCLOSE", None)
SENTENCES = (
    "Bonjour, je souhaite visiter ce bien fictif dès que possible, idéalement en fin de semaine.",
    "Nous sommes une famille de quatre personnes et cherchons un logement proche des écoles.",
    "Pourriez-vous me communiquer le montant des charges et de la taxe foncière ?",
    "Le bien est-il toujours disponible ? Je suis disponible pour une visite en soirée.",
    "Guten Tag, ich interessiere mich für diese fiktive Wohnung und hätte gern einen Termin.",
    "Ist eine Besichtigung am Wochenende möglich? Wir sind flexibel und kurzfristig erreichbar.",
    "Gibt es einen Stellplatz oder eine Garage, und wie hoch sind die Nebenkosten monatlich?",
    "Hello, I am relocating for work and would like more details about this fictional flat.",
    "Could you tell me whether pets are allowed and when the property becomes available?",
    "We have a mortgage agreement in principle and can move quickly if the price is right.",
    "Merci de me rappeler sur mon portable, de préférence entre 12h et 14h ou après 18h.",
    "J'aimerais savoir si des travaux sont à prévoir et quelle est la performance énergétique.",
)  # fmt: skip
ESTATE_TYPES = ("APARTMENT", "HOUSE", "LAND", "PARKING", "OFFICE")
DISTRIBUTION_TYPES = ("BUYER", "SELLER", "LANDLORD", "TENANT")
TTL_AFTER_INGESTION = timedelta(days=3 * 365)
INGESTION_WINDOW_SECONDS = 2 * 365 * 86_400


def _weighted(choices: Sequence[tuple[str, int]]) -> tuple[list[str], list[int]]:
    return [c for c, _ in choices], [w for _, w in choices]


def _message(rng: random.Random) -> str:
    target = rng.randint(700, 1200)
    parts: list[str] = []
    length = 0
    while length < target:
        sentence = rng.choice(SENTENCES)
        parts.append(sentence)
        length += len(sentence) + 1
    parts.append("(Synthetic benchmark message.)")
    return " ".join(parts)


def _property(rng: random.Random, category: str, index: int) -> dict[str, Any]:
    if category == "CLASSIFIED":
        block: dict[str, Any] = {
            "classifiedId": f"{rng.getrandbits(48):012X}",
            "offererEstateId": f"FAKE-ESTATE-{index:08d}",
            "offererMarketingKey": f"REF-BENCH-{rng.randint(0, 999_999):06d}",
        }
        if rng.random() < 0.3:
            block["projectId"] = f"FAKE-PROJECT-{rng.randint(0, 9999):04d}"
            block["projectOffererEstateId"] = f"FAKE-PROGRAMME-{rng.randint(0, 9999):04d}"
            block["projectOffererMarketingKey"] = f"REF-PROGRAMME-{rng.randint(0, 9999):04d}"
        return block
    return {
        "estateType": rng.sample(ESTATE_TYPES, rng.randint(1, 2)),
        "rooms": {"numberOfRoomsMin": rng.randint(1, 4), "numberOfRoomsMax": rng.randint(4, 7)},
        "spaces": {"spaceMin": rng.randint(20, 80), "spaceMax": rng.randint(80, 250)},
        "budget": {
            "amountMin": rng.randint(50, 200) * 1000,
            "amountMax": rng.randint(200, 900) * 1000,
        },
        "localities": [
            {"postalCode": f"{rng.randint(10000, 99999)}", "name": "Ville-Fictive"}
            for _ in range(rng.randint(1, 3))
        ],
    }


def iter_leads(count: int, seed: int, now: datetime) -> Iterator[dict[str, Any]]:
    """`count` synthetic leads, deterministic for a seed, generated one at a time."""
    rng = random.Random(seed)
    portals, portal_weights = _weighted(PORTALS)
    categories, category_weights = _weighted(CATEGORIES)
    newest = int(now.timestamp())
    for index in range(count):
        portal = rng.choices(portals, portal_weights)[0]
        category = rng.choices(categories, category_weights)[0]
        ingestion = newest - rng.randint(0, INGESTION_WINDOW_SECONDS)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        phones = [
            {
                "type": "MOBILE",
                "number": f"+3360000{index % 10_000:04d}",
                "verified": rng.random() < 0.5,
            }
        ]
        if rng.random() < 0.3:
            phones.append(
                {"type": "LANDLINE", "number": f"+3310000{index % 10_000:04d}", "verified": False}
            )
        lead: dict[str, Any] = {
            "metadata": {
                "leadId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "ingestionDate": ingestion,
                "portal": portal,
                "TTL": ingestion + int(TTL_AFTER_INGESTION.total_seconds()),
                "leadCategory": category,
            },
            "contactRequest": {
                "firstName": first,
                "lastName": last,
                "gender": rng.choice(GENDERS),
                "email": f"bench.seeker.{index}@example.com",
                "language": LANGUAGE_OF_COUNTRY[portal[-3:]],
                "phoneNumbers": phones,
                "message": _message(rng),
                "isOwner": rng.random() < 0.2,
            },
        }
        if category == "CLASSIFIED" or (category == "PROPERTY_SEARCH" and rng.random() < 0.9):
            lead["property"] = _property(rng, category, index)
        if category == "PROPERTY_SEARCH":
            lead["distributionType"] = rng.sample(DISTRIBUTION_TYPES, rng.randint(1, 2))
        yield lead


class _Writer:
    """Writes one output form incrementally, so no file is ever built in memory."""

    def __init__(self, form: str, handle: TextIO) -> None:
        self.form = form
        self.handle = handle
        self.first = True

    def start(self) -> None:
        if self.form == "array":
            self.handle.write("[\n")
        elif self.form == "page":
            self.handle.write('{\n  "metadata": {},\n  "links": {},\n  "items": [\n')

    def add(self, lead: dict[str, Any], compact: str) -> None:
        if self.form == "jsonl":
            self.handle.write(compact + "\n")
            return
        indent = "  " if self.form == "array" else "    "
        text = json.dumps(lead, ensure_ascii=False, indent=2).replace("\n", "\n" + indent)
        self.handle.write(("" if self.first else ",\n") + indent + text)
        self.first = False

    def finish(self) -> None:
        if self.form == "array":
            self.handle.write("\n]\n")
        elif self.form == "page":
            self.handle.write("\n  ]\n}\n")


def lead_file(workdir: Path, count: int, seed: int, form: str) -> Path:
    return workdir / f"leads-{GENERATOR_VERSION}-s{seed}-{count}.{FILE_SUFFIX[form]}"


def generate(workdir: Path, count: int, seed: int, forms: Sequence[str], now: datetime) -> float:
    """Write the missing files of `count` leads in each form, in one pass; return the mean
    compact JSON size of a lead in bytes (0.0 when every file already existed)."""
    missing = [f for f in forms if not lead_file(workdir, count, seed, f).exists()]
    if not missing:
        return 0.0
    started = time.perf_counter()
    total_bytes = 0
    with contextlib.ExitStack() as stack:
        writers = []
        for form in missing:
            partial = lead_file(workdir, count, seed, form).with_suffix(".partial")
            handle = stack.enter_context(partial.open("w", encoding="utf-8", buffering=1 << 20))
            writers.append(_Writer(form, handle))
        for writer in writers:
            writer.start()
        for lead in iter_leads(count, seed, now):
            compact = json.dumps(lead, ensure_ascii=False, separators=(",", ":"))
            total_bytes += len(compact.encode("utf-8"))
            for writer in writers:
                writer.add(lead, compact)
        for writer in writers:
            writer.finish()
    for form in missing:
        final = lead_file(workdir, count, seed, form)
        final.with_suffix(".partial").rename(final)
    mean = total_bytes / count if count else 0.0
    log(
        f"generated {count:,} leads as {', '.join(missing)} in "
        f"{time.perf_counter() - started:.1f} s (mean {mean:,.0f} bytes of compact JSON per lead)"
    )
    return mean


# --- running the CLI -------------------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs have spent busy since boot (/proc/stat); 0.0 where unavailable."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by the processes named `postgres` on this machine (the local
    PostgreSQL server): their own time plus that of their reaped children, so a backend that
    ended (the import's, when its connection closed) is still counted, through the
    postmaster. 0.0 where /proc is unavailable."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue  # the process ended meanwhile
        name_end = text.rfind(")")
        if text[text.find("(") + 1 : name_end] != "postgres":
            continue
        fields = text[name_end + 2 :].split()
        ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_for_idle(max_busy: float, timeout: float) -> float:
    """Wait (up to `timeout` s) until the machine's CPUs are at most `max_busy` busy over 2 s;
    return the busy fraction last seen."""
    deadline = time.monotonic() + timeout
    cpus = os.cpu_count() or 1
    said = False
    while True:
        before = machine_busy_seconds()
        time.sleep(2.0)
        busy = (machine_busy_seconds() - before) / (2.0 * cpus)
        if busy <= max_busy:
            return busy
        if time.monotonic() >= deadline:
            log(f"machine still {busy:.0%} busy after {timeout:.0f} s: measuring anyway")
            return busy
        if not said:
            log(f"machine {busy:.0%} busy: waiting up to {timeout:.0f} s for it to idle")
            said = True
        time.sleep(3.0)


@dataclass(frozen=True, slots=True)
class ChildRun:
    wall_seconds: float
    cpu_seconds: float
    # CPU seconds of the local postgres processes during the run (the server's work).
    pg_cpu_seconds: float
    # Busy CPU seconds of the whole machine during the run minus the child's and PostgreSQL's:
    # anything else that ran, kernel writeback included. A few seconds at most when quiet.
    other_cpu_seconds: float
    peak_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str


@dataclass(frozen=True, slots=True)
class Row:
    backend: str
    form: str
    leads: int
    label: str
    input_mb: float
    busy_before: float
    run: ChildRun
    imported: int
    updated: int

    @property
    def noisy(self) -> bool:
        limit = max(NOISY_OTHER_MIN_SECONDS, NOISY_OTHER_FRACTION * self.run.wall_seconds)
        return self.run.other_cpu_seconds > limit

    @property
    def leads_per_second(self) -> float:
        return self.leads / self.run.wall_seconds if self.run.wall_seconds else 0.0


def log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def emit(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def retention_command() -> list[str]:
    """The `retention` console script beside this Python, else `python -m retention`."""
    script = Path(sys.executable).with_name("retention")
    return [str(script)] if script.exists() else [sys.executable, "-m", "retention"]


def child_env(database_url: str, batch_size: int | None, code: Path | None) -> dict[str, str]:
    """The child's environment: only the benchmark's RETENTION_* settings; with `code`, the
    `retention` package is imported from that folder instead of the installed one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env["RETENTION_DATABASE_URL"] = database_url
    env["RETENTION_SUBJECT_KEY"] = DUMMY_SUBJECT_KEY
    if batch_size is not None:
        env["RETENTION_IMPORT_BATCH_SIZE"] = str(batch_size)
    if code is not None:
        # PYTHONPATH is searched before the editable install's finder (appended to meta_path).
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    return env


# --- the code under test -----------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def export_code(repo: Path, ref: str, workdir: Path) -> Path:
    """Extract the tree of commit `ref` (git archive) into the work folder; return the folder."""
    sha = git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")
    folder = workdir / f"code-{sha[:12]}"
    if not folder.exists():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(repo), "archive", "--format=tar", sha],
            check=True,
            capture_output=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        partial.rename(folder)
    return folder


def describe_code(repo: Path, code: Path | None, ref: str | None) -> str:
    """Which `retention` the children import, and at which revision."""
    probe = subprocess.run(
        [sys.executable, "-c", "import retention; print(retention.__file__)"],
        env=child_env("sqlite://", None, code),
        cwd=code or tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        if code is not None:
            revision = f"commit {git(repo, 'rev-parse', '--short=12', f'{ref}^{{commit}}')} ({ref})"
        else:
            head = git(repo, "rev-parse", "--short=12", "HEAD")
            dirty = git(repo, "status", "--porcelain", "--", "retention", "jobs", "config")
            revision = f"working tree at {head}" + (
                " WITH UNCOMMITTED CHANGES (use --code REF to pin a commit)" if dirty else ""
            )
    except (OSError, subprocess.CalledProcessError):
        revision = "unknown revision (not a git checkout?)"
    return f"{probe}: {revision}"


def run_child(command: Sequence[str], env: dict[str, str], cwd: Path) -> ChildRun:
    """Run `command`, reaping it with os.wait4 to get that child's own rusage (peak RSS)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        busy_before = machine_busy_seconds()
        pg_before = postgres_cpu_seconds()
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        time.sleep(0.5)  # let the postmaster reap the import's backend, whose CPU it then holds
        busy = machine_busy_seconds() - busy_before
        pg = max(0.0, postgres_cpu_seconds() - pg_before)
        cpu = usage.ru_utime + usage.ru_stime
        process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        out.seek(0)
        err.seek(0)
        return ChildRun(
            wall_seconds=wall,
            cpu_seconds=cpu,
            pg_cpu_seconds=pg,
            other_cpu_seconds=max(0.0, busy - cpu - pg),
            peak_rss_mb=usage.ru_maxrss / 1024,  # Linux: kilobytes
            exit_code=process.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def checked(run: ChildRun, what: str) -> ChildRun:
    if run.exit_code != 0:
        tail = (run.stderr + run.stdout)[-4000:]
        raise SystemExit(f"{what} failed with exit code {run.exit_code}:\n{tail}")
    return run


# --- stores ----------------------------------------------------------------------------------


def pg_url_with_schema(base_url: str, schema: str, settings: Sequence[str] = ()) -> str:
    """`base_url` whose sessions use `schema` and the extra `NAME=VALUE` server settings."""
    from urllib.parse import quote

    options = " ".join(f"-c{setting}" for setting in [f"search_path={schema}", *settings])
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options={quote(options, safe='')}"


def reset_pg_schema(base_url: str, schema: str, *, create: bool = True) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            if create:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    finally:
        engine.dispose()


def pg_server_version(base_url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(base_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


def remove_sqlite_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".key"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


@dataclass(slots=True)
class Stores:
    workdir: Path
    pg_base_url: str
    pg_schema: str
    batch_size: int | None
    code: Path | None
    idle_below: float
    idle_timeout: float
    repeat: int
    pg_settings: Sequence[str]

    def env(self, url: str) -> dict[str, str]:
        return child_env(url, self.batch_size, self.code)

    def fresh(self, backend: str, tag: str) -> str:
        """A new, empty store at the current schema revision; returns its URL."""
        if backend == "sqlite":
            path = self.workdir / f"store-{tag}.db"
            remove_sqlite_store(path)
            url = f"sqlite:///{path}"
        else:
            reset_pg_schema(self.pg_base_url, self.pg_schema)
            url = pg_url_with_schema(self.pg_base_url, self.pg_schema, self.pg_settings)
        checked(
            run_child(
                [*retention_command(), "db", "upgrade"],
                self.env(url),
                self.workdir,
            ),
            f"db upgrade ({backend})",
        )
        return url

    def discard(self, backend: str, tag: str) -> None:
        if backend == "sqlite":
            remove_sqlite_store(self.workdir / f"store-{tag}.db")


def import_once(
    stores: Stores, url: str, backend: str, form: str, path: Path, count: int, label: str
) -> Row:
    busy_before = wait_for_idle(stores.idle_below, stores.idle_timeout)
    run = checked(
        run_child(
            [*retention_command(), "import", str(path), "--json"],
            stores.env(url),
            stores.workdir,
        ),
        f"import of {path.name} ({backend})",
    )
    result = json.loads(run.stdout)
    if result["rejected"] or result["imported"] + result["updated"] != count:
        raise SystemExit(f"unexpected import result for {path.name} ({backend}): {result}")
    row = Row(
        backend=backend,
        form=form,
        leads=count,
        label=label,
        input_mb=path.stat().st_size / 1e6,
        busy_before=busy_before,
        run=run,
        imported=result["imported"],
        updated=result["updated"],
    )
    rate = f"{row.leads_per_second:>9,.0f} leads/s" if count else " " * 17
    log(
        f"{backend:<10} {form:<5} {count:>9,} {label:<20} {run.wall_seconds:8.1f} s "
        f"{rate}  peak RSS {run.peak_rss_mb:,.0f} MB"
    )
    return row


def bench_import(
    stores: Stores, backend: str, form: str, path: Path, count: int, *, reimport: bool
) -> list[Row]:
    """Import `path` into a fresh store (and again, with `reimport`), `stores.repeat` times;
    keep the fastest run of each kind."""
    tag = f"{form}-{count}"
    label = "import (new leads)" if count else "start-up (empty file)"
    best: dict[str, Row] = {}
    for _ in range(stores.repeat):
        url = stores.fresh(backend, tag)
        rows = [import_once(stores, url, backend, form, path, count, label)]
        if reimport:
            rows.append(import_once(stores, url, backend, form, path, count, "re-import (updates)"))
        stores.discard(backend, tag)
        for row in rows:
            if row.label not in best or row.run.wall_seconds < best[row.label].run.wall_seconds:
                best[row.label] = row
    return list(best.values())


# --- profiling -------------------------------------------------------------------------------


PROFILE_CHILD = "_profile-child"


def profile_child(out: str, retention_args: list[str]) -> int:
    """Run `retention RETENTION_ARGS` in this process under cProfile, every thread profiled
    (`python -m cProfile` sees only the main thread, not the import's writer thread).
    Writes OUT.main (main thread), OUT.threads (the other threads) and OUT (both merged)."""
    import cProfile
    import pstats
    import threading

    thread_profiles: list[cProfile.Profile] = []
    plain_run = threading.Thread.run

    def profiled_run(thread: threading.Thread) -> None:
        profile = cProfile.Profile()
        thread_profiles.append(profile)
        profile.enable()
        try:
            plain_run(thread)
        finally:
            profile.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign, assignment]
    from retention.cli import main as retention_main

    sys.argv = ["retention", *retention_args]
    main_profile = cProfile.Profile()
    exit_code = 0
    main_profile.enable()
    try:
        retention_main()
    except SystemExit as exc:
        exit_code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        main_profile.disable()
    pstats.Stats(main_profile).dump_stats(f"{out}.main")
    merged = pstats.Stats(main_profile)
    if thread_profiles:
        threads = pstats.Stats(thread_profiles[0])
        for profile in thread_profiles[1:]:
            threads.add(profile)
        threads.dump_stats(f"{out}.threads")
        merged.add(threads)
    merged.dump_stats(out)
    return exit_code


def print_profile(path: str, order: str, title: str) -> None:
    import pstats

    emit()
    emit(f"--- {title}: top 15 by {order} ---")
    if not Path(path).exists():
        emit("(none)")
        return
    prefixes = sorted({str(Path(p)) + "/" for p in sys.path if p} | {f"{Path.cwd()}/"}, key=len)
    text = io.StringIO()
    stats = pstats.Stats(path, stream=text).sort_stats(order)
    emit(f"({stats.total_tt:.1f} s of profiled time)")  # type: ignore[attr-defined]
    stats.print_stats(PROFILE_WRAPPERS, 15)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    for line in lines[start:]:
        for prefix in reversed(prefixes):  # longest first: site-packages before its parent
            line = line.replace(prefix, "")
        emit(line)


def profile_import(stores: Stores, backend: str, path: Path, count: int, out: Path) -> None:
    url = stores.fresh(backend, f"profile-{count}")
    for stale in (out, Path(f"{out}.main"), Path(f"{out}.threads")):
        stale.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), PROFILE_CHILD, str(out)]
    wait_for_idle(stores.idle_below, stores.idle_timeout)
    run = checked(
        run_child([*command, "import", str(path), "--json"], stores.env(url), stores.workdir),
        f"profiled import ({backend})",
    )
    stores.discard(backend, f"profile-{count}")
    emit()
    emit(
        f"cProfile of `retention import` of {count:,} JSON Lines leads on {backend}: "
        f"{run.wall_seconds:.1f} s wall, {run.cpu_seconds:.1f} s child CPU under the profiler "
        f"({out}, {out}.main, {out}.threads)"
    )
    emit("(the CLI and runpy wrapper frames are left out of the lists)")
    print_profile(f"{out}.main", "cumulative", "main thread (read, validate, hash)")
    print_profile(f"{out}.threads", "cumulative", "other threads (the batch writer)")
    print_profile(str(out), "tottime", "all threads")


# --- reporting -------------------------------------------------------------------------------


def print_table(rows: Sequence[Row]) -> None:
    header = (
        f"{'backend':<10} {'format':<6} {'leads':>9} {'run':<20} {'input MB':>9} "
        f"{'wall s':>7} {'leads/s':>8} {'peak RSS MB':>11} {'client CPU s':>12} "
        f"{'PG CPU s':>8} {'other CPU s':>11} {'busy before':>11}"
    )
    emit(header)
    emit("-" * len(header))
    for row in rows:
        rate = f"{row.leads_per_second:,.0f}" if row.leads else "-"
        emit(
            f"{row.backend:<10} {row.form:<6} {row.leads:>9,} {row.label:<20} "
            f"{row.input_mb:>9,.0f} {row.run.wall_seconds:>7.1f} {rate:>8} "
            f"{row.run.peak_rss_mb:>11,.0f} {row.run.cpu_seconds:>12.1f} "
            f"{row.run.pg_cpu_seconds:>8.1f} {row.run.other_cpu_seconds:>11.1f} "
            f"{row.busy_before:>11.0%}{'  (!)' if row.noisy else ''}"
        )
    if any(row.noisy for row in rows):
        emit(
            "(!) other processes used the CPUs during this run (other CPU > "
            f"{NOISY_OTHER_FRACTION:.0%} of the wall time and > {NOISY_OTHER_MIN_SECONDS:.0f} s): "
            "its time is not reliable"
        )


def print_environment(args: argparse.Namespace, mean_bytes: float, code: str) -> None:
    import sqlite3

    emit("environment:")
    emit(f"  code under test: {code}")
    emit(
        f"  python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, cpus {os.cpu_count()}"
    )
    if "postgresql" in args.backends or args.profile_leads:
        with contextlib.suppress(Exception):
            emit(f"  PostgreSQL server {pg_server_version(args.pg_url)}")
    emit(f"  import.batch_size {args.batch_size or 'default (config)'}")
    if args.pg_setting:
        emit(f"  PostgreSQL session settings: {', '.join(args.pg_setting)}")
    if args.repeat > 1:
        emit(f"  each figure: the fastest of {args.repeat} runs")
    if mean_bytes:
        emit(f"  mean lead size {mean_bytes:,.0f} bytes of compact JSON")
    emit("  wall time includes the child's start-up (Python, SQLAlchemy, schema check)")
    emit("  client CPU s: user+sys of the `retention import` process, all its threads")
    emit("  PG CPU s: CPU of the local postgres processes during the run (the server's work)")
    emit(
        "  other CPU s: busy CPU of the whole machine during the run minus client and PG: "
        "other processes, kernel writeback; (!) marks a run where it exceeds "
        f"{NOISY_OTHER_FRACTION:.0%} of the wall time (and {NOISY_OTHER_MIN_SECONDS:.0f} s)"
    )
    emit(
        "  busy before: CPU busy over 2 s just before the run (each run waits for an idle machine)"
    )


# --- main ------------------------------------------------------------------------------------


def _csv(allowed: Sequence[str]) -> Any:
    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown)}; choose from {', '.join(allowed)}"
            )
        return values

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark `retention import` throughput and peak memory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--leads", type=int, default=200_000, help="leads per file (0: skip)")
    parser.add_argument("--backends", type=_csv(BACKENDS), default=list(BACKENDS))
    parser.add_argument("--formats", type=_csv(FORMATS), default=list(FORMATS))
    parser.add_argument(
        "--peak-memory-million",
        action="store_true",
        help="also import 100,000 and 1,000,000 leads (JSON Lines unless --peak-memory-formats) "
        "and compare peak RSS",
    )
    parser.add_argument(
        "--peak-memory-formats", type=_csv(FORMATS), default=["jsonl"],
        help="formats of the --peak-memory-million runs",
    )  # fmt: skip
    parser.add_argument(
        "--peak-memory-backend", choices=BACKENDS, default="sqlite",
        help="backend of the --peak-memory-million runs",
    )  # fmt: skip
    parser.add_argument(
        "--profile-leads", type=int, default=0, metavar="N",
        help="also profile one JSON Lines import of N leads with cProfile (0: no)",
    )  # fmt: skip
    parser.add_argument("--profile-backend", choices=BACKENDS, default="postgresql")
    parser.add_argument("--profile-out", type=Path, default=Path("/tmp/imp.prof"))
    parser.add_argument("--no-reimport", action="store_true", help="skip the re-import runs")
    parser.add_argument("--batch-size", type=int, help="RETENTION_IMPORT_BATCH_SIZE for the child")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server (no schema)")
    parser.add_argument("--pg-schema", default=DEFAULT_PG_SCHEMA)
    parser.add_argument(
        "--pg-setting", action="append", default=[], metavar="NAME=VALUE",
        help="a server setting for the children's PostgreSQL sessions, e.g. "
        "default_toast_compression=lz4 (repeatable; for experiments)",
    )  # fmt: skip
    parser.add_argument(
        "--workdir", type=Path,
        help="keep generated files and stores here and reuse the files on the next run "
        "(e.g. bench/out, git-ignored); default: a temporary folder removed at the end",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument(
        "--idle-below", type=float, default=0.15, metavar="FRACTION",
        help="before each timed run, wait until the CPUs are at most this busy (1: never wait)",
    )  # fmt: skip
    parser.add_argument("--idle-timeout", type=float, default=900.0, metavar="SECONDS")
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="K",
        help="run each measurement K times (fresh store each time) and keep the fastest",
    )  # fmt: skip
    parser.add_argument(
        "--code", metavar="REF",
        help="benchmark the `retention` of this git commit (extracted with git archive into the "
        "work folder) instead of the installed working tree, which may be changing",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", args.pg_schema):
        parser.error("--pg-schema must be a plain lower-case identifier")
    if any(not re.fullmatch(r"[a-z_.]+=[\w.-]+", setting) for setting in args.pg_setting):
        parser.error("--pg-setting takes NAME=VALUE, e.g. default_toast_compression=lz4")
    if args.leads < 0 or args.profile_leads < 0 or args.repeat < 1:
        parser.error("counts must not be negative")
    return args


def run_benchmark(args: argparse.Namespace, workdir: Path) -> None:
    now = datetime.now(UTC)
    code = export_code(REPO, args.code, workdir) if args.code else None
    code_description = describe_code(REPO, code, args.code)
    log(f"code under test: {code_description}")
    stores = Stores(
        workdir,
        args.pg_url,
        args.pg_schema,
        args.batch_size,
        code,
        args.idle_below,
        args.idle_timeout,
        args.repeat,
        args.pg_setting,
    )
    rows: list[Row] = []
    mean_bytes = 0.0

    if args.leads:
        mean_bytes = generate(workdir, args.leads, args.seed, args.formats, now)
        empty = workdir / "empty.jsonl"
        empty.write_bytes(b"")
        for backend in args.backends:
            # The fixed cost of one run (interpreter, imports, connection, schema check).
            rows += bench_import(stores, backend, "empty", empty, 0, reimport=False)
            for form in args.formats:
                path = lead_file(workdir, args.leads, args.seed, form)
                reimport = form == "jsonl" and not args.no_reimport
                rows += bench_import(stores, backend, form, path, args.leads, reimport=reimport)

    peak_rows: list[Row] = []
    if args.peak_memory_million:
        for count in PEAK_MEMORY_COUNTS:
            forms = args.peak_memory_formats
            mean_bytes = generate(workdir, count, args.seed, forms, now) or mean_bytes
            for form in forms:
                path = lead_file(workdir, count, args.seed, form)
                peak_rows += bench_import(
                    stores, args.peak_memory_backend, form, path, count, reimport=False
                )
                if not args.workdir and count == PEAK_MEMORY_COUNTS[-1]:
                    path.unlink()  # 1.6-2.4 GB: do not keep it in the temp folder

    if args.profile_leads:
        generate(workdir, args.profile_leads, args.seed, ["jsonl"], now)
        path = lead_file(workdir, args.profile_leads, args.seed, "jsonl")
        profile_import(stores, args.profile_backend, path, args.profile_leads, args.profile_out)

    emit()
    emit("=" * 30 + " retention import benchmark " + "=" * 30)
    print_environment(args, mean_bytes, code_description)
    if rows:
        emit()
        print_table(rows)
    pg_first = [
        r for r in rows
        if r.backend == "postgresql" and r.form == "jsonl" and r.label.startswith("import")
    ]  # fmt: skip
    if pg_first:
        rate = pg_first[0].leads_per_second
        emit()
        emit(
            f"PostgreSQL JSON Lines import: {rate:,.0f} leads/s = "
            f"{rate / TARGET_LEADS_PER_SECOND:.2f} x the {TARGET_LEADS_PER_SECOND:,} leads/s target"
        )
    if peak_rows:
        emit()
        emit(f"peak memory on {args.peak_memory_backend}:")
        print_table(peak_rows)
        for form in args.peak_memory_formats:
            small, big = (
                next(r.run.peak_rss_mb for r in peak_rows if r.form == form and r.leads == n)
                for n in PEAK_MEMORY_COUNTS
            )
            emit(
                f"{form}: peak RSS {PEAK_MEMORY_COUNTS[-1]:,} / {PEAK_MEMORY_COUNTS[0]:,} leads: "
                f"{big:,.0f} MB / {small:,.0f} MB = {big / small:.2f} (1.00 = flat memory)"
            )
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit()
    emit(f"benchmark process (generator) peak RSS: {own:,.0f} MB")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    if arguments[:1] == [PROFILE_CHILD]:  # internal: the profiled child of --profile-leads
        return profile_child(arguments[1], arguments[2:])
    args = parse_args(arguments)
    uses_pg = "postgresql" in args.backends and args.leads
    uses_pg = uses_pg or (args.peak_memory_million and args.peak_memory_backend == "postgresql")
    uses_pg = uses_pg or (args.profile_leads and args.profile_backend == "postgresql")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        context: Any = contextlib.nullcontext(str(args.workdir.resolve()))
    else:
        context = tempfile.TemporaryDirectory(prefix="import-bench-")
    try:
        with context as folder:
            log(f"working folder {folder}")
            run_benchmark(args, Path(folder))
    finally:
        if uses_pg:
            reset_pg_schema(args.pg_url, args.pg_schema, create=False)
            log(f"dropped PostgreSQL schema {args.pg_schema}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

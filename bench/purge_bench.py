"""Benchmark of `retention purge` against the floor: throughput, longest batch, peak memory.

Run by hand, never by the test suite (at 1,000,000 leads it takes tens of minutes and writes
several gigabytes under bench/out/). Use the Python of the venv where lead-retention is
installed:

    # 1,000,000 leads (500,000 due), SQLite and PostgreSQL, plus 100,000 for the memory check:
    /work/venv/bin/python bench/purge_bench.py

    # smaller and narrower:
    /work/venv/bin/python bench/purge_bench.py --leads 20000 --backends sqlite --skip-small

    # a batch-size variant (passed to `retention purge --batch-size`):
    /work/venv/bin/python bench/purge_bench.py --backends postgresql --batch-size 2000

    # also profile one PostgreSQL purge of 200,000 leads (100,000 due) with cProfile:
    /work/venv/bin/python bench/purge_bench.py --leads 0 --profile-leads 200000

    # pin the code under test to a commit (the working tree may change under a long run):
    /work/venv/bin/python bench/purge_bench.py --code HEAD

What it does, per backend and size:

1. Builds a fresh store: SQLite, a new file under bench/out/; PostgreSQL, the schema
   `retention_pbench` dropped and created again. `retention db upgrade` creates the tables, then
   the leads are bulk-loaded in SQL (INSERT ... SELECT; far faster than `retention import`):
   UUID lead ids, ~2 KB JSON payloads (metadata, contactRequest with a ~1.4 KB synthetic
   message, property), synthetic contact columns, two subject rows per lead (email, phone).
   Rows are stored in ingestion order (as imports write them), ingestion dates spread over the
   last 2.5 years (the 3-year ceiling rule never applies). Every other lead is due: its TTL lies
   between its ingestion and an hour before the load; the others' TTL is a day to two years
   after it. VACUUM ANALYZE / ANALYZE follow.
2. The floor: in one transaction, `INSERT INTO audit_events ... SELECT ... FROM leads WHERE ttl
   <= :now` (one row per due lead, unique fake hashes) and `DELETE FROM leads WHERE ttl <=
   :now` (subject rows go by ON DELETE CASCADE). PostgreSQL: timed up to the end of the
   DELETE, then rolled back and the tables vacuumed, so the purge sees the same data. SQLite:
   run on a copy of the file under the pragmas the tool's own engine sets (probed from the
   code under test: WAL, synchronous, wal_autocheckpoint, foreign_keys, secure_delete, ...),
   COMMIT included; the WAL checkpoint it leaves behind is timed apart and shown too (the
   purge pays its own automatic checkpoints inside its batches). The copy is then deleted.
3. The purge: `retention --log-format json purge --json --force` (default batch size unless
   --batch-size), run in-process by a child interpreter (`purge_bench.py --child`) so that it
   can time the phases: `purge_due_leads` (the batches; the floor's counterpart), the residue
   step (VACUUM / WAL checkpoint) and every batch transaction (the wrapper sits around the same
   call the library times for `PurgeResult.longest_batch_seconds`). With the breakdown on (the
   default) the select / delete / audit hashing / audit insert calls inside the batches are
   timed too; the wrappers cost a few microseconds per batch. The child reports its peak RSS
   (VmHWM of /proc/self/status, read at its end). os.wait4's ru_maxrss is shown beside it but
   is not used: Linux carries the parent's resident size over fork + exec into it, and the
   parent holds hundreds of MB after loading a store.
4. Prints a table with the floor and purge throughput, their ratio, the longest batch and the
   peak RSS against the issue's targets, and the peak RSS at 100,000 and at the main size.

The machine may be shared: before each timed phase the benchmark waits (--wait-idle, at most
30 minutes by default) until the CPUs are idle, and it reports how busy they were during the
phase (one busy core of two is ~50%; clearly more means something else ran meanwhile).

Targets (from the issue): PostgreSQL purge >= 0.6x the floor's throughput and longest batch
<= 250 ms; SQLite >= 0.7x and <= 500 ms; peak RSS < 150 MB, flat in the number of leads.
The ratio is given on the purge proper (`purge_due_leads`: counting, batches) and on the whole
command (run bookkeeping and the residue step included). Nothing here asserts timings.

The PostgreSQL schema `retention_pbench` and the SQLite files are removed at the end (--keep
leaves them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_WORKDIR = HERE / "out"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "retention_pbench"
# A dummy 40-character subject key: the benchmark's stores hold synthetic data only.
DUMMY_SUBJECT_KEY = "purge-bench-dummy-subject-key-0000000000"
BACKENDS = ("sqlite", "postgresql")
SMALL_LEADS = 100_000
MB = 1024 * 1024

# Targets of the issue, per backend: (min ratio to the floor, max longest batch in seconds).
TARGETS = {"postgresql": (0.6, 0.250), "sqlite": (0.7, 0.500)}
TARGET_PEAK_RSS_MB = 150.0
# "Flat": the main size's peak RSS at most this much above the small size's.
FLAT_TOLERANCE = 0.10

DAY = 86_400
YEAR = 365 * DAY
INGESTION_WINDOW = int(2.5 * YEAR)

# --- synthetic content -------------------------------------------------------------------------

PORTALS = (
    ("SLG-FRA", "FR"), ("IWT-DEU", "DE"), ("IWB-BEL", "FR"), ("IWT-AUT", "DE"),
    ("LIM-FRA", "FR"), ("MAG-FRA", "FR"), ("BDS-FRA", "FR"), ("IMN-DEU", "DE"),
    ("SIG-FRA", "FR"),
)  # fmt: skip
FIRST_NAMES = (
    "Jeanne", "Luc", "Marie", "Paul", "Élodie", "Hélène", "François", "Jürgen", "Anna", "Lukas",
    "Sophie", "Thomas", "Chloé", "Léa", "Maximilian", "Zoë", "Noémie", "Björn", "Inès", "Emma",
)  # fmt: skip
LAST_NAMES = (
    "Exemple", "Beispiel", "Fictif", "Muster", "Testeur", "Placeholder", "Dupont-Fictif",
    "Müller-Beispiel", "Lefèvre-Exemple", "Schröder-Muster", "Voorbeeld", "Synthétique",
)  # fmt: skip
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
MESSAGES = 1000  # distinct messages, picked per lead by a hash of its number


def synthetic_messages(seed: int = 20261127) -> list[str]:
    """MESSAGES messages of ~1.4 KB of shuffled sentences (compress like real text)."""
    rng = random.Random(seed)
    messages = []
    for _ in range(MESSAGES):
        target = rng.randint(1200, 1600)
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < target:
            parts.append(rng.choice(SENTENCES))
        parts.append("(Synthetic benchmark message.)")
        messages.append(" ".join(parts))
    return messages


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def log(message: str) -> None:
    say(f"[{datetime.now(UTC):%H:%M:%S}] {message}")


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def _cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _busy_since(start: tuple[int, int]) -> float:
    busy, total = _cpu_times()
    return (busy - start[0]) / max(total - start[1], 1)


def machine_busy(sample_seconds: float = 2.0) -> float:
    """Share of all CPUs busy during a short sample (0..1)."""
    busy0, total0 = _cpu_times()
    time.sleep(sample_seconds)
    busy1, total1 = _cpu_times()
    return (busy1 - busy0) / max(total1 - total0, 1)


def wait_idle(max_seconds: float, threshold: float = 0.10) -> str:
    """Wait (at most max_seconds) until other work leaves the CPUs idle, so a timed phase does
    not share the two cores with it; say how busy the machine was when the phase started."""
    deadline = time.monotonic() + max_seconds
    busy = machine_busy(5.0)
    waited = False
    while busy > threshold and time.monotonic() < deadline:
        if not waited:
            log(f"  machine {busy:.0%} busy: waiting up to {max_seconds:.0f} s for it to idle")
            waited = True
        time.sleep(5)
        busy = machine_busy(5.0)
    return f"CPUs {busy:.0%} busy before the phase, {load_note()}"


# --- the data set, in SQL ------------------------------------------------------------------
#
# Per lead number i (0..n-1), all derived from i so both backends hold the same data:
#   h1..h4   multiplicative hashes of i modulo 2^32 (spread, deterministic)
#   ingestion = t0 + i * span / n + h1 % 3600          (rows stored in ingestion order)
#   due (i even): ttl = ingestion + (h2 / 2^32) * (now - 3600 - ingestion)
#   not due:      ttl = now + DAY + (h2 / 2^32) * 2 years
#   lead_id   = UUID-shaped: 8 hex of h3, 4 of h4, ..., last 12 hex digits = i (unique)

_HASHES = {
    "h1": "((i * 2654435761 + 12345) % 4294967296)",
    "h2": "((i * 2246822519 + 777) % 4294967296)",
    "h3": "((i * 3266489917 + 4242) % 4294967296)",
    "h4": "((i * 668265263 + 99) % 4294967296)",
}
_NAMED_PARAMETER = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)\b")


def pg_statement(statement: str) -> str:
    """A statement written with :name parameters and % for modulo, in psycopg's syntax."""
    return _NAMED_PARAMETER.sub(r"%(\1)s", statement.replace("%", "%%"))


def _series_sql(dialect: str) -> str:
    """SELECT of the per-lead numbers for i in [:start, :stop)."""
    h = _HASHES
    if dialect == "postgresql":
        source = "generate_series(CAST(:start AS bigint), CAST(:stop AS bigint) - 1) AS g(i)"
        params = {k: f"CAST(:{k} AS bigint)" for k in ("t0", "span", "n", "now")}
        lead_id = (
            f"lpad(to_hex({h['h3']}), 8, '0') || '-' || lpad(to_hex({h['h4']} % 65536), 4, '0')"
            f" || '-4' || lpad(to_hex({h['h1']} % 4096), 3, '0')"
            f" || '-a' || lpad(to_hex({h['h2']} % 4096), 3, '0')"
            " || '-' || lpad(to_hex(i), 12, '0')"
        )
        real = "::float8"
    else:
        source = (
            "(WITH RECURSIVE s(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM s"
            " WHERE i + 1 < :stop) SELECT i FROM s)"
        )
        params = {k: f":{k}" for k in ("t0", "span", "n", "now")}
        lead_id = (
            f"printf('%08x-%04x-4%03x-a%03x-%012x', {h['h3']}, {h['h4']} % 65536,"
            f" {h['h1']} % 4096, {h['h2']} % 4096, i)"
        )
        real = " * 1.0"
    ingestion = f"({params['t0']} + i * {params['span']} / {params['n']} + {h['h1']} % 3600)"
    return f"""
        SELECT i, {lead_id} AS lead_id, ingestion,
               CASE WHEN i % 2 = 0
                    THEN ingestion + CAST(({h["h2"]}{real} / 4294967296)
                                          * ({params["now"]} - 3600 - ingestion) AS BIGINT)
                    ELSE {params["now"]} + {DAY} + CAST(({h["h2"]}{real} / 4294967296)
                                                        * {2 * YEAR} AS BIGINT)
               END AS ttl,
               CASE i % 20 WHEN 0 THEN 'AGENCY' WHEN 1 THEN 'AGENCY' WHEN 2 THEN 'AGENCY'
                    WHEN 3 THEN 'PROPERTY_SEARCH' WHEN 4 THEN 'PROPERTY_SEARCH'
                    WHEN 5 THEN 'PROPERTY_SEARCH' WHEN 6 THEN 'PROPERTY_SEARCH'
                    WHEN 7 THEN 'PROPERTY_SEARCH' ELSE 'CLASSIFIED' END AS category,
               CASE i % 5 WHEN 0 THEN 'MALE' WHEN 1 THEN 'FEMALE' WHEN 2 THEN 'OTHER'
                    WHEN 3 THEN 'FEMALE' ELSE NULL END AS gender,
               {h["h4"]} % {len(FIRST_NAMES)} AS first_id,
               {h["h3"]} % {len(LAST_NAMES)} AS last_id,
               i % {len(PORTALS)} AS portal_id,
               (i * 7919) % {MESSAGES} AS message_id,
               {h["h1"]} % 10 < 5 AS verified,
               {h["h2"]} % 10 < 2 AS is_owner,
               {h["h1"]} AS h1, {h["h3"]} AS h3
        FROM (SELECT i, {ingestion} AS ingestion FROM {source}) AS base
    """


def _leads_insert_sql(dialect: str) -> str:
    pg = dialect == "postgresql"
    obj = "jsonb_build_object" if pg else "json_object"
    arr = "jsonb_build_array" if pg else "json_array"
    if pg:
        ts = "to_timestamp({})"
        boolean = "{}"
        loaded = ":loaded"
        hexed = "upper(lpad(to_hex({}), 8, '0'))"
    else:
        ts = "strftime('%Y-%m-%d %H:%M:%S', {}, 'unixepoch') || '.000000'"
        boolean = "json(CASE WHEN {} THEN 'true' ELSE 'false' END)"
        loaded = ":loaded"
        hexed = "printf('%08X', {})"
    email = "'bench.seeker.' || x.i || '@example.com'"
    phone = (
        "'+3360' || substr('0000000' || x.i, -7, 7)"
        if not pg
        else ("'+3360' || lpad(x.i::text, 7, '0')")
    )
    phones = (
        f"{arr}({obj}('type', 'MOBILE', 'number', {phone},"
        f" 'verified', {boolean.format('x.verified')}))"
    )
    payload = f"""{obj}(
            'metadata', {obj}('leadId', x.lead_id, 'ingestionDate', x.ingestion,
                              'portal', p.portal, 'TTL', x.ttl, 'leadCategory', x.category),
            'contactRequest', {obj}('firstName', f.name, 'lastName', l.name,
                                    'gender', x.gender, 'email', {email},
                                    'language', p.language, 'phoneNumbers', {phones},
                                    'message', m.message,
                                    'isOwner', {boolean.format("x.is_owner")}),
            'property', {obj}('classifiedId', {hexed.format("x.h1")} || {hexed.format("x.h3")},
                              'offererEstateId', 'FAKE-ESTATE-' || x.i,
                              'offererMarketingKey', 'REF-BENCH-' || (x.h3 % 1000000)))"""
    is_owner = "x.is_owner" if pg else "CASE WHEN x.is_owner THEN 1 ELSE 0 END"
    return f"""
        INSERT INTO leads (lead_id, category, portal, ingestion_date, ttl, first_name,
                           last_name, name, gender, email, language, message, is_owner,
                           phone_numbers, payload, imported_at, updated_at)
        SELECT x.lead_id, x.category, p.portal, {ts.format("x.ingestion")},
               {ts.format("x.ttl")}, f.name, l.name, f.name || ' ' || l.name, x.gender,
               {email}, p.language, m.message, {is_owner}, {phones}, {payload},
               {loaded}, {loaded}
        FROM ({_series_sql(dialect)}) AS x
        JOIN bench_first AS f ON f.id = x.first_id
        JOIN bench_last AS l ON l.id = x.last_id
        JOIN bench_portal AS p ON p.id = x.portal_id
        JOIN bench_message AS m ON m.id = x.message_id
        ORDER BY x.i
    """


def _subjects_insert_sql(dialect: str) -> str:
    if dialect == "postgresql":
        digest = "sha256(convert_to('{}:' || lead_id, 'UTF8'))"
    else:
        digest = "randomblob(32)"  # no hash function in SQLite; 256 random bits are unique
    return (
        "INSERT INTO lead_subjects (lead_id, kind, subject_hash) "
        f"SELECT lead_id, 'email', {digest.format('e')} FROM leads "
        f"UNION ALL SELECT lead_id, 'phone', {digest.format('p')} FROM leads"
    )


def _floor_audit_sql(dialect: str) -> str:
    details = '\'{"category":"\' || category || \'","portal":"\' || portal || \'","rule":"ttl"}\''
    if dialect == "postgresql":
        now = ":now"
        prev_hash = "encode(sha256(convert_to('prev:' || lead_id, 'UTF8')), 'hex')"
        this_hash = "encode(sha256(convert_to('this:' || lead_id, 'UTF8')), 'hex')"
    else:
        now = ":now"
        prev_hash = "lower(hex(randomblob(32)))"
        this_hash = "lower(hex(randomblob(32)))"
    return (
        "INSERT INTO audit_events (occurred_at, action, lead_id, run_id, details, prev_hash, hash)"
        f" SELECT {now}, 'lead.purged', lead_id, 1, {details}, {prev_hash}, {this_hash}"
        f" FROM leads WHERE ttl <= {now}"
    )


def _floor_delete_sql(dialect: str) -> str:
    return "DELETE FROM leads WHERE ttl <= :now"


@dataclass(frozen=True, slots=True)
class Layout:
    """When the synthetic leads were ingested and expire, relative to `now` (epoch seconds)."""

    now: int
    leads: int

    @property
    def t0(self) -> int:
        return self.now - INGESTION_WINDOW

    @property
    def span(self) -> int:
        return INGESTION_WINDOW - DAY

    def params(self, start: int, stop: int) -> dict[str, int]:
        return {
            "start": start, "stop": stop, "t0": self.t0, "span": self.span, "n": self.leads,
            "now": self.now,
        }  # fmt: skip


# --- stores --------------------------------------------------------------------------------


@dataclass(slots=True)
class Floor:
    deleted: int
    audit_rows: int
    seconds: float
    insert_seconds: float
    delete_seconds: float
    commit_seconds: float | None  # None: rolled back, not committed
    # SQLite: the WAL checkpoint the floor's transaction leaves for later (not in `seconds`;
    # the purge pays its own as automatic checkpoints after its batch commits).
    checkpoint_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.deleted / self.seconds if self.seconds else 0.0

    @property
    def rate_with_checkpoint(self) -> float | None:
        if self.checkpoint_seconds is None:
            return None
        return self.deleted / (self.seconds + self.checkpoint_seconds)


class Store:
    """A benchmark store on one backend: build, floor, clean up."""

    dialect = ""
    chunk = 100_000

    @property
    def url(self) -> str:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def load(self, layout: Layout) -> None:
        raise NotImplementedError

    def prepare(self) -> None:
        """Make the store quiescent before a timed phase (dirty pages flushed)."""
        raise NotImplementedError

    def floor(self, layout: Layout) -> Floor:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    def upgrade(self, env: dict[str, str], cwd: Path) -> None:
        subprocess.run(
            [sys.executable, "-m", "retention", "db", "upgrade", "--json"],
            env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip


class PostgresStore(Store):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.base_url = url

    @property
    def url(self) -> str:
        return f"{self.base_url}?options=-csearch_path%3D{PG_SCHEMA}"

    def _connect(self, *, autocommit: bool = True) -> Any:
        import psycopg

        conninfo = self.base_url.replace("postgresql+psycopg://", "postgresql://", 1)
        return psycopg.connect(
            conninfo, autocommit=autocommit, options=f"-c search_path={PG_SCHEMA}"
        )

    def reset(self) -> None:
        with self._connect() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")
            conn.execute(f"CREATE SCHEMA {PG_SCHEMA}")

    def _word_tables(self, conn: Any) -> None:
        messages = synthetic_messages()
        tables = {
            "bench_first": [(i, n) for i, n in enumerate(FIRST_NAMES)],
            "bench_last": [(i, n) for i, n in enumerate(LAST_NAMES)],
            "bench_message": [(i, m) for i, m in enumerate(messages)],
        }
        for name, rows in tables.items():
            conn.execute(f"CREATE TEMP TABLE {name} (id bigint PRIMARY KEY, name text)")
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {name} VALUES (%s, %s)", rows)
        conn.execute("ALTER TABLE bench_message RENAME COLUMN name TO message")
        conn.execute(
            "CREATE TEMP TABLE bench_portal (id bigint PRIMARY KEY, portal text, language text)"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO bench_portal VALUES (%s, %s, %s)",
                [(i, p, lang) for i, (p, lang) in enumerate(PORTALS)],
            )

    def load(self, layout: Layout) -> None:
        loaded = datetime.fromtimestamp(layout.now, UTC)
        with self._connect() as conn:
            self._word_tables(conn)
            statement = pg_statement(_leads_insert_sql("postgresql"))
            for start in range(0, layout.leads, self.chunk):
                stop = min(start + self.chunk, layout.leads)
                conn.execute(statement, {**layout.params(start, stop), "loaded": loaded})
                log(f"  postgresql: {stop:,} / {layout.leads:,} leads loaded")
            conn.execute(_subjects_insert_sql("postgresql"))
            log("  postgresql: subjects loaded; VACUUM ANALYZE")
            conn.execute("VACUUM (ANALYZE) leads")
            conn.execute("VACUUM (ANALYZE) lead_subjects")
            conn.execute("VACUUM (ANALYZE) audit_events")

    def prepare(self) -> None:
        with self._connect() as conn:
            conn.execute("CHECKPOINT")

    def floor(self, layout: Layout) -> Floor:
        now = datetime.fromtimestamp(layout.now, UTC)
        with self._connect(autocommit=False) as conn:
            started = time.perf_counter()
            audit = conn.execute(pg_statement(_floor_audit_sql("postgresql")), {"now": now})
            audit_rows = audit.rowcount
            inserted = time.perf_counter()
            deleted = conn.execute(pg_statement(_floor_delete_sql("postgresql")), {"now": now})
            deleted_rows = deleted.rowcount
            finished = time.perf_counter()
            conn.rollback()
        with self._connect() as conn:  # the aborted rows must not slow the purge down
            for table in ("leads", "lead_subjects", "audit_events"):
                conn.execute(f"VACUUM (ANALYZE) {table}")
        return Floor(
            deleted_rows, audit_rows, finished - started, inserted - started,
            finished - inserted, None,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE ttl <= now()),"
                " avg(octet_length(payload::text)), avg(pg_column_size(payload)),"
                " avg(pg_column_size(leads.*)) FROM leads"
            ).fetchone()
            subjects = conn.execute("SELECT count(*) FROM lead_subjects").fetchone()[0]
            sizes = conn.execute(
                "SELECT pg_total_relation_size('leads'), pg_total_relation_size('lead_subjects')"
            ).fetchone()
        return {
            "leads": row[0], "due_now": row[1], "payload_json_bytes": float(row[2]),
            "payload_stored_bytes": float(row[3]), "row_stored_bytes": float(row[4]),
            "subjects": subjects, "leads_table_mb": sizes[0] / MB,
            "subjects_table_mb": sizes[1] / MB,
        }  # fmt: skip

    def drop(self) -> None:
        with self._connect() as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE")


# The connection settings the floor copies from the tool's own engine, in this order.
TOOL_PRAGMAS = (
    "busy_timeout", "journal_mode", "synchronous", "wal_autocheckpoint", "foreign_keys",
    "secure_delete", "cache_size", "temp_store",
)  # fmt: skip
_PROBE_PRAGMAS = f"""
import json
from retention.config import load_settings
from retention.storage.engine import create_store_engine
engine = create_store_engine(load_settings().database)
with engine.connect() as conn:
    found = {{name: conn.exec_driver_sql(f"PRAGMA {{name}}").scalar() for name in {TOOL_PRAGMAS!r}}}
print(json.dumps(found))
"""


class SQLiteStore(Store):
    dialect = "sqlite"

    def __init__(self, workdir: Path, leads: int) -> None:
        self.path = workdir / f"purge-bench-{leads}.db"
        self.tool_pragmas: dict[str, Any] = {}

    def probe_tool_pragmas(self, env: dict[str, str], cwd: Path) -> None:
        """The pragmas the code under test sets on its connections (engine.py), so that the
        floor runs under the same ones."""
        output = subprocess.run(
            [sys.executable, "-c", _PROBE_PRAGMAS],
            env=env, cwd=cwd, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        self.tool_pragmas = json.loads(output.strip().splitlines()[-1])
        log(f"  sqlite: the tool's connection pragmas: {self.tool_pragmas}")

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def _files(self, path: Path) -> list[Path]:
        return [path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", ".key"))]

    def reset(self) -> None:
        for path in self._files(self.path):
            path.unlink(missing_ok=True)
        for lock in self.path.parent.glob(f"{self.path.name}.*.lock"):
            lock.unlink()

    def _connect(self, path: Path | None = None) -> Any:
        import sqlite3

        conn = sqlite3.connect(path or self.path, isolation_level=None)
        return conn

    def load(self, layout: Layout) -> None:
        conn = self._connect()
        try:
            conn.execute("PRAGMA journal_mode = OFF")
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA cache_size = -1000000")
            conn.execute("PRAGMA temp_store = MEMORY")
            messages = synthetic_messages()
            conn.execute("CREATE TEMP TABLE bench_first (id INTEGER PRIMARY KEY, name TEXT)")
            conn.execute("CREATE TEMP TABLE bench_last (id INTEGER PRIMARY KEY, name TEXT)")
            conn.execute("CREATE TEMP TABLE bench_message (id INTEGER PRIMARY KEY, message TEXT)")
            conn.execute(
                "CREATE TEMP TABLE bench_portal"
                " (id INTEGER PRIMARY KEY, portal TEXT, language TEXT)"
            )
            conn.executemany("INSERT INTO bench_first VALUES (?, ?)", enumerate(FIRST_NAMES))
            conn.executemany("INSERT INTO bench_last VALUES (?, ?)", enumerate(LAST_NAMES))
            conn.executemany("INSERT INTO bench_message VALUES (?, ?)", enumerate(messages))
            conn.executemany(
                "INSERT INTO bench_portal VALUES (?, ?, ?)",
                [(i, p, lang) for i, (p, lang) in enumerate(PORTALS)],
            )
            loaded = datetime.fromtimestamp(layout.now, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
            statement = _leads_insert_sql("sqlite")
            for start in range(0, layout.leads, self.chunk):
                stop = min(start + self.chunk, layout.leads)
                conn.execute("BEGIN")
                conn.execute(statement, {**layout.params(start, stop), "loaded": loaded})
                conn.execute("COMMIT")
                log(f"  sqlite: {stop:,} / {layout.leads:,} leads loaded")
            conn.execute("BEGIN")
            conn.execute(_subjects_insert_sql("sqlite"))
            conn.execute("COMMIT")
            log("  sqlite: subjects loaded; ANALYZE")
            conn.execute("ANALYZE")
            conn.execute("PRAGMA journal_mode = WAL")
        finally:
            conn.close()

    def prepare(self) -> None:
        conn = self._connect()
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        os.sync()

    def floor(self, layout: Layout) -> Floor:
        copy = self.path.with_name(self.path.stem + "-floor.db")
        for path in self._files(copy):
            path.unlink(missing_ok=True)
        shutil.copyfile(self.path, copy)
        os.sync()
        now = datetime.fromtimestamp(layout.now, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        conn = self._connect(copy)
        try:
            # The tool's connection set-up (retention.storage.engine), as probed.
            for name, value in self.tool_pragmas.items():
                conn.execute(f"PRAGMA {name} = {value}")
            started = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            audit = conn.execute(_floor_audit_sql("sqlite"), {"now": now}).rowcount
            inserted = time.perf_counter()
            deleted = conn.execute(_floor_delete_sql("sqlite"), {"now": now}).rowcount
            deleted_at = time.perf_counter()
            conn.execute("COMMIT")
            finished = time.perf_counter()
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            checkpointed = time.perf_counter()
        finally:
            conn.close()
            for path in self._files(copy):
                path.unlink(missing_ok=True)
        return Floor(
            deleted, audit, finished - started, inserted - started, deleted_at - inserted,
            finished - deleted_at, checkpointed - finished,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        conn = self._connect()
        try:
            row = conn.execute(
                "SELECT count(*), avg(length(CAST(payload AS BLOB))) FROM leads"
            ).fetchone()
            subjects = conn.execute("SELECT count(*) FROM lead_subjects").fetchone()[0]
        finally:
            conn.close()
        return {
            "leads": row[0], "payload_json_bytes": float(row[1]), "subjects": subjects,
            "file_mb": self.path.stat().st_size / MB,
        }  # fmt: skip

    def drop(self) -> None:
        self.reset()


# --- the purge, in a child interpreter --------------------------------------------------------


@dataclass(slots=True)
class PurgeMeasure:
    status: str
    deleted: int
    batches: int
    batch_size: int
    longest_batch_seconds: float  # PurgeResult.longest_batch_seconds
    purge_seconds: float  # purge_due_leads: counting + batches
    command_seconds: float  # the CLI command: + engine, run bookkeeping, residue
    residue_seconds: float
    residue: dict[str, Any] | None
    process_seconds: float  # the child, interpreter start-up and imports included
    # VmHWM of the child's own address space. Not os.wait4's ru_maxrss: Linux carries the
    # parent's resident size over fork + exec into it (rusage_maxrss_mb, kept for reference).
    peak_rss_mb: float
    baseline_rss_mb: float  # after imports, before the command ran
    rusage_maxrss_mb: float
    batch_seconds: list[float] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)  # name -> [seconds, calls]
    exit_code: int = 0

    @property
    def rate(self) -> float:
        return self.deleted / self.purge_seconds if self.purge_seconds else 0.0

    @property
    def command_rate(self) -> float:
        return self.deleted / self.command_seconds if self.command_seconds else 0.0


def proc_status_mb(field_name: str) -> float:
    """A memory figure of this process from /proc/self/status (VmHWM: peak RSS), in MiB."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024  # kB
    return 0.0


def _patch_timed(module: Any, name: str, phases: dict[str, list[float]], key: str) -> None:
    """Replace module.name by a wrapper adding its wall time and calls to phases[key]
    (nothing when the code under test has no such name)."""
    original = getattr(module, name, None)
    if original is None:
        return
    bucket = phases.setdefault(key, [0.0, 0])

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = original(*args, **kwargs)
            if key == "audit hashing (seal)":
                result = iter(list(result))  # seal is a generator: time the hashing itself
            return result
        finally:
            bucket[0] += time.perf_counter() - started
            bucket[1] += 1

    setattr(module, name, timed)


def child_main(args: argparse.Namespace) -> int:
    """Run `retention purge --json --force` in this process, timing its phases."""
    import jobs.purge
    import retention
    import retention.services.purge as service
    import retention.storage.audit as audit_storage
    from retention.cli import cli

    baseline = proc_status_mb("VmHWM")
    state: dict[str, Any] = {}
    phases: dict[str, list[float]] = {}
    batch_seconds: list[float] = []

    # The job module's own names are replaced: the CLI calls jobs.purge.purge_job, which looks
    # them up at call time.
    job_names = vars(jobs.purge)
    run_purge_due_leads = job_names["purge_due_leads"]
    run_clean_residue = job_names["clean_residue"]
    run_batch = service._purge_batch

    def purge_due_leads(*a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        result = run_purge_due_leads(*a, **kw)
        state["purge_seconds"] = time.perf_counter() - started
        state["result"] = result
        return result

    def clean_residue(*a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        report = run_clean_residue(*a, **kw)
        state["residue_seconds"] = time.perf_counter() - started
        return report

    def purge_batch(*a: Any, **kw: Any) -> Any:
        started = time.perf_counter()
        result = run_batch(*a, **kw)
        if result[0]:
            batch_seconds.append(time.perf_counter() - started)
        # The batch size in effect (config 0 means a per-backend default in newer code).
        state["batch_size"] = max(state.get("batch_size", 0), kw.get("limit") or 0)
        return result

    job_names["purge_due_leads"] = purge_due_leads
    job_names["clean_residue"] = clean_residue
    service._purge_batch = purge_batch
    if args.breakdown:
        _patch_timed(service, "count_due", phases, "count_due")
        _patch_timed(service, "active_holds_exist", phases, "holds check")
        _patch_timed(service, "select_due_batch", phases, "select due batch")
        _patch_timed(service, "delete_leads", phases, "delete leads")
        _patch_timed(service, "delete_due_batch", phases, "select+delete in one statement")
        _patch_timed(service, "append_events", phases, "append audit events")
        _patch_timed(audit_storage, "seal", phases, "audit hashing (seal)")

    argv = ["--log-format", "json", "purge", "--json", "--force"]
    if args.batch_size:
        argv += ["--batch-size", str(args.batch_size)]
    profiler = None
    if args.profile_out:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    exit_code = cli.main(args=argv, prog_name="retention", standalone_mode=False)
    command_seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile_out)

    result = state.get("result")
    from retention.config import load_settings

    document = {
        "exit_code": exit_code or 0,
        "deleted": result.deleted if result else 0,
        "batches": result.batches if result else 0,
        "longest_batch_seconds": result.longest_batch_seconds if result else 0.0,
        "batch_size": state.get("batch_size")
        or args.batch_size
        or load_settings().purge.batch_size,
        "purge_seconds": state.get("purge_seconds", 0.0),
        "residue_seconds": state.get("residue_seconds", 0.0),
        "command_seconds": command_seconds,
        "baseline_rss_mb": baseline,
        "peak_rss_mb": proc_status_mb("VmHWM"),
        "batch_seconds": batch_seconds,
        "phases": phases,
        "retention_file": retention.__file__,
    }
    Path(args.child_out).write_text(json.dumps(document), encoding="utf-8")
    return 0


def run_purge_child(
    store: Store, env: dict[str, str], workdir: Path, tag: str, args: argparse.Namespace,
    *, profile_out: Path | None = None,
) -> PurgeMeasure:  # fmt: skip
    out = workdir / f"purge-bench-{tag}.child.json"
    stdout = workdir / f"purge-bench-{tag}.stdout.json"
    stderr = workdir / f"purge-bench-{tag}.stderr.log"
    out.unlink(missing_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--child-out", str(out)]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if not args.breakdown:
        command.append("--no-breakdown")
    if profile_out is not None:
        command += ["--profile-out", str(profile_out)]
    with stdout.open("wb") as out_handle, stderr.open("wb") as err_handle:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, cwd=child_cwd(args.code_dir), stdout=out_handle, stderr=err_handle
        )
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0 or not out.exists():
        sys.stderr.write(stderr.read_text(encoding="utf-8", errors="replace")[-4000:])
        raise RuntimeError(f"the purge child failed (exit {process.returncode}); see {stderr}")
    child = json.loads(out.read_text(encoding="utf-8"))
    if args.code_dir is not None and not child["retention_file"].startswith(str(args.code_dir)):
        raise RuntimeError(f"the child imported {child['retention_file']}, not {args.code_dir}")
    cli_output = json.loads(stdout.read_text(encoding="utf-8") or "{}")
    return PurgeMeasure(
        status=cli_output.get("status", "?"),
        deleted=child["deleted"],
        batches=child["batches"],
        batch_size=child["batch_size"],
        longest_batch_seconds=child["longest_batch_seconds"],
        purge_seconds=child["purge_seconds"],
        command_seconds=child["command_seconds"],
        residue_seconds=child["residue_seconds"],
        residue=cli_output.get("residue"),
        process_seconds=elapsed,
        peak_rss_mb=child["peak_rss_mb"],
        rusage_maxrss_mb=usage.ru_maxrss / 1024,
        baseline_rss_mb=child["baseline_rss_mb"],
        batch_seconds=child["batch_seconds"],
        phases=child["phases"],
        exit_code=child["exit_code"],
    )


# --- one measurement --------------------------------------------------------------------------


@dataclass(slots=True)
class Measurement:
    backend: str
    leads: int
    due: int
    describe: dict[str, Any]
    load_seconds: float
    floor: Floor
    purge: PurgeMeasure
    # Share of both CPUs busy during the floor and the purge (one core is ~50%): more means
    # something else ran at the same time.
    floor_cpu_busy: float
    purge_cpu_busy: float

    @property
    def ratio(self) -> float:
        return self.purge.rate / self.floor.rate if self.floor.rate else 0.0

    @property
    def command_ratio(self) -> float:
        return self.purge.command_rate / self.floor.rate if self.floor.rate else 0.0


def make_store(backend: str, leads: int, args: argparse.Namespace) -> Store:
    if backend == "postgresql":
        return PostgresStore(args.pg_url)
    return SQLiteStore(args.workdir, leads)


def child_env(database_url: str, code: Path | None) -> dict[str, str]:
    """The children's environment: only the benchmark's RETENTION_* settings; with `code`, the
    `retention` and `jobs` packages are imported from that folder, not the editable install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env["RETENTION_DATABASE_URL"] = database_url
    env["RETENTION_SUBJECT_KEY"] = DUMMY_SUBJECT_KEY
    if code is not None:
        # PYTHONPATH is searched before the editable install's finder (appended to meta_path).
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    return env


def child_cwd(code: Path | None) -> Path:
    # Not the repository: `python -m` puts the working directory first on sys.path.
    return code or Path(tempfile.gettempdir())


# --- the code under test -----------------------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def export_code(ref: str, workdir: Path) -> Path:
    """Extract the tree of commit `ref` (git archive) into the work folder; return the folder.
    A long run then measures one revision even if the working tree changes meanwhile."""
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    folder = workdir / f"code-{sha[:12]}"
    if not folder.exists():
        partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", sha],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(partial)], input=archive, check=True)
        try:
            partial.rename(folder)
        except OSError:  # another benchmark extracted the same commit meanwhile
            shutil.rmtree(partial, ignore_errors=True)
    return folder


def describe_code(code: Path | None, ref: str | None) -> str:
    """Which `retention` the children import, and at which revision."""
    probe = subprocess.run(
        [sys.executable, "-c", "import retention; print(retention.__file__)"],
        env=child_env("sqlite://", code), cwd=child_cwd(code),
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    try:
        if code is not None:
            revision = f"commit {git('rev-parse', '--short=12', f'{ref}^{{commit}}')} ({ref})"
        else:
            head = git("rev-parse", "--short=12", "HEAD")
            dirty = git("status", "--porcelain", "--", "retention", "jobs")
            revision = f"working tree at {head}" + (
                " WITH UNCOMMITTED CHANGES (use --code REF to pin a commit)" if dirty else ""
            )
    except (OSError, subprocess.CalledProcessError):
        revision = "unknown revision (not a git checkout?)"
    return f"{probe}: {revision}"


def store_env(store: Store, args: argparse.Namespace) -> dict[str, str]:
    return child_env(store.url, args.code_dir)


def build(store: Store, leads: int, args: argparse.Namespace) -> tuple[Layout, float]:
    layout = Layout(now=int(time.time()), leads=leads)
    started = time.perf_counter()
    store.reset()
    store.upgrade(store_env(store, args), child_cwd(args.code_dir))
    store.load(layout)
    if isinstance(store, SQLiteStore):
        store.probe_tool_pragmas(store_env(store, args), child_cwd(args.code_dir))
    return layout, time.perf_counter() - started


def measure(backend: str, leads: int, args: argparse.Namespace) -> Measurement:
    store = make_store(backend, leads, args)
    log(f"{backend}, {leads:,} leads: building the store")
    layout, load_seconds = build(store, leads, args)
    described = store.describe()
    log(f"{backend}, {leads:,} leads: built in {load_seconds:.0f} s: {described}")
    try:
        store.prepare()
        log(f"{backend}, {leads:,} leads: floor ({wait_idle(args.wait_idle)})")
        cpu = _cpu_times()
        floor = store.floor(layout)
        floor_busy = _busy_since(cpu)
        log(
            f"{backend}: floor deleted {floor.deleted:,} and wrote {floor.audit_rows:,} audit "
            f"rows in {floor.seconds:.2f} s ({floor.rate:,.0f} rows/s; insert "
            f"{floor.insert_seconds:.2f} s, delete {floor.delete_seconds:.2f} s"
            + (f", commit {floor.commit_seconds:.2f} s)" if floor.commit_seconds is not None
               else ", rolled back)")
            + (f"; then WAL checkpoint {floor.checkpoint_seconds:.2f} s"
               if floor.checkpoint_seconds is not None else "")
            + f"; CPUs {floor_busy:.0%} busy meanwhile"
        )  # fmt: skip
        store.prepare()
        log(f"{backend}, {leads:,} leads: purge ({wait_idle(args.wait_idle)})")
        tag = f"{backend}-{leads}"
        cpu = _cpu_times()
        purge = run_purge_child(store, store_env(store, args), args.workdir, tag, args)
        purge_busy = _busy_since(cpu)
        log(
            f"{backend}: purge {purge.status}: {purge.deleted:,} deleted in {purge.batches} "
            f"batches, {purge.purge_seconds:.2f} s ({purge.rate:,.0f} rows/s), command "
            f"{purge.command_seconds:.2f} s (residue {purge.residue_seconds:.2f} s), longest "
            f"batch {purge.longest_batch_seconds * 1000:.0f} ms, peak RSS "
            f"{purge.peak_rss_mb:.1f} MiB; CPUs {purge_busy:.0%} busy meanwhile"
        )
        if purge.status != "succeeded" or purge.deleted != floor.deleted:
            log(f"WARNING: purge {purge.status}, deleted {purge.deleted} vs floor {floor.deleted}")
    finally:
        if not args.keep:
            store.drop()
    return Measurement(
        backend, leads, floor.deleted, described, load_seconds, floor, purge,
        floor_busy, purge_busy,
    )  # fmt: skip


# --- reporting -------------------------------------------------------------------------------


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def _percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def report(measurements: Sequence[Measurement], code: str) -> None:
    say()
    say("=" * 100)
    say(f"code under test: {code}")
    header = (
        f"{'backend':<11}{'leads':>10}{'due':>9}{'floor r/s':>11}{'purge r/s':>11}"
        f"{'ratio':>7}{'cmd r/s':>10}{'cmd ratio':>10}{'longest':>9}{'p50 batch':>10}"
        f"{'peak RSS':>10}"
    )
    say(header)
    say("-" * len(header))
    for m in measurements:
        p = m.purge
        say(
            f"{m.backend:<11}{m.leads:>10,}{m.due:>9,}{m.floor.rate:>11,.0f}{p.rate:>11,.0f}"
            f"{m.ratio:>7.2f}{p.command_rate:>10,.0f}{m.command_ratio:>10.2f}"
            f"{p.longest_batch_seconds * 1000:>7.0f}ms"
            f"{_percentile(p.batch_seconds, 0.5) * 1000:>8.0f}ms{p.peak_rss_mb:>7.1f}MiB"
        )
    say()
    say("ratio: purge_due_leads (counting + batches) vs the floor; cmd ratio: the whole command")
    say("(engine, run rows and events, residue step) vs the floor.")
    say("longest: PurgeResult.longest_batch_seconds (one batch transaction).")
    for m in measurements:
        p, f = m.purge, m.floor
        say()
        say(f"{m.backend}, {m.leads:,} leads ({m.describe})")
        committed = (
            f"commit {f.commit_seconds:.2f} s" if f.commit_seconds is not None else "rolled back"
        )
        say(
            f"  floor: {f.seconds:.2f} s (audit INSERT..SELECT {f.insert_seconds:.2f} s, DELETE "
            f"{f.delete_seconds:.2f} s, {committed})"
        )
        if f.checkpoint_seconds is not None and f.rate_with_checkpoint:
            say(
                f"  floor's WAL checkpoint afterwards: {f.checkpoint_seconds:.2f} s; floor with it "
                f"{f.rate_with_checkpoint:,.0f} rows/s, purge ratio to that "
                f"{p.rate / f.rate_with_checkpoint:.2f}"
            )
        say(
            f"  purge: {p.status}, {p.deleted:,} deleted, {p.batches} batches of {p.batch_size}; "
            f"purge_due_leads {p.purge_seconds:.2f} s, command {p.command_seconds:.2f} s "
            f"(residue {p.residue_seconds:.2f} s: {p.residue}), process {p.process_seconds:.2f} s"
        )
        say(
            f"  batches: longest {p.longest_batch_seconds * 1000:.0f} ms, p50 "
            f"{_percentile(p.batch_seconds, 0.5) * 1000:.0f} ms, p90 "
            f"{_percentile(p.batch_seconds, 0.9) * 1000:.0f} ms, first "
            f"{(p.batch_seconds[0] if p.batch_seconds else 0) * 1000:.0f} ms"
        )
        say(
            f"  memory: peak RSS {p.peak_rss_mb:.1f} MiB (after imports {p.baseline_rss_mb:.1f} "
            f"MiB; os.wait4 ru_maxrss {p.rusage_maxrss_mb:.1f} MiB, can include the parent's)"
        )
        if p.phases:
            total = p.purge_seconds or 1.0
            parts = ", ".join(
                f"{name} {seconds:.2f} s ({seconds / total:.0%}, {int(calls)} calls)"
                for name, (seconds, calls) in p.phases.items()
            )
            say(f"  inside purge_due_leads: {parts}")
            append = p.phases.get("append audit events", [0.0])[0]
            seal = p.phases.get("audit hashing (seal)", [0.0])[0]
            batches = sum(p.batch_seconds)
            known = sum(
                p.phases.get(k, [0.0])[0]
                for k in (
                    "holds check", "select due batch", "delete leads",
                    "select+delete in one statement", "append audit events",
                )
            )  # fmt: skip
            outside = p.purge_seconds - batches
            say(
                f"  derived: audit INSERT + head update {append - seal:.2f} s; begin/commit and "
                f"the rest of the batches {batches - known:.2f} s (the phase totals also count "
                f"the empty statements that end each walk: this goes negative when they are "
                f"slow); outside the batches (count_due, ends of walks) {outside:.2f} s"
            )
    say()
    say("targets:")
    by_backend: dict[str, list[Measurement]] = {}
    for m in measurements:
        by_backend.setdefault(m.backend, []).append(m)
    for backend, group in by_backend.items():
        main = max(group, key=lambda m: m.leads)
        min_ratio, max_batch = TARGETS[backend]
        p = main.purge
        say(
            f"  {backend} ({main.leads:,} leads, batch size {p.batch_size}):"
            f"\n    ratio >= {min_ratio}: {main.ratio:.2f} purge only -> "
            f"{_verdict(main.ratio >= min_ratio)} ({main.ratio / min_ratio - 1:+.0%}); "
            f"{main.command_ratio:.2f} whole command -> "
            f"{_verdict(main.command_ratio >= min_ratio)} "
            f"({main.command_ratio / min_ratio - 1:+.0%})"
            + (
                f"\n    (vs the floor with its WAL checkpoint: "
                f"{p.rate / main.floor.rate_with_checkpoint:.2f})"
                if main.floor.rate_with_checkpoint
                else ""
            )
            + f"\n    longest batch <= {max_batch * 1000:.0f} ms: "
            f"{p.longest_batch_seconds * 1000:.0f} ms -> "
            f"{_verdict(p.longest_batch_seconds <= max_batch)} "
            f"({p.longest_batch_seconds / max_batch - 1:+.0%})"
            f"\n    peak RSS < {TARGET_PEAK_RSS_MB:.0f} MB: {p.peak_rss_mb:.1f} MiB -> "
            f"{_verdict(p.peak_rss_mb < TARGET_PEAK_RSS_MB)}"
        )
        small = [m for m in group if m.leads < main.leads]
        if small:
            s = min(small, key=lambda m: m.leads)
            growth = p.peak_rss_mb / s.purge.peak_rss_mb - 1
            say(
                f"    flat memory: {s.leads:,} leads {s.purge.peak_rss_mb:.1f} MiB, "
                f"{main.leads:,} leads {p.peak_rss_mb:.1f} MiB ({growth:+.1%}) -> "
                f"{_verdict(growth <= FLAT_TOLERANCE)} (tolerance +{FLAT_TOLERANCE:.0%})"
            )
    say("=" * 100)


# --- profile ---------------------------------------------------------------------------------


def profile(args: argparse.Namespace) -> None:
    import pstats

    leads = args.profile_leads
    store = make_store(args.profile_backend, leads, args)
    log(f"profile: {args.profile_backend}, {leads:,} leads: building the store")
    build(store, leads, args)
    try:
        store.prepare()
        out = args.workdir / f"purge-bench-{args.profile_backend}-{leads}.prof"
        log(f"profile: purge under cProfile ({wait_idle(args.wait_idle)})")
        measured = run_purge_child(
            store, store_env(store, args), args.workdir, f"profile-{args.profile_backend}-{leads}",
            args,
            profile_out=out,
        )  # fmt: skip
        log(
            f"profile: {measured.deleted:,} deleted in {measured.purge_seconds:.2f} s under the "
            f"profiler ({measured.rate:,.0f} rows/s; profile in {out})"
        )
    finally:
        if not args.keep:
            store.drop()
    stats = pstats.Stats(str(out), stream=sys.stdout)
    stats.strip_dirs()
    for key in ("tottime", "cumulative"):
        say(f"\n--- top 20 by {key} ---")
        stats.sort_stats(key).print_stats(20)


# --- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads (half of them due)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="sqlite,postgresql")
    parser.add_argument("--batch-size", type=int, help="passed to `retention purge`")
    parser.add_argument(
        "--skip-small", action="store_true", help=f"skip the {SMALL_LEADS:,}-lead memory check"
    )
    parser.add_argument("--small-leads", type=int, default=SMALL_LEADS, help=argparse.SUPPRESS)
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL, help="PostgreSQL server and database")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument(
        "--code", metavar="REF",
        help="measure this commit (git archive into the work folder), not the working tree",
    )  # fmt: skip
    parser.add_argument(
        "--no-breakdown", dest="breakdown", action="store_false",
        help="do not time the calls inside the batches",
    )  # fmt: skip
    parser.add_argument("--profile-leads", type=int, default=0, help="also profile a purge")
    parser.add_argument("--profile-backend", default="postgresql", choices=BACKENDS)
    parser.add_argument(
        "--wait-idle", type=float, default=1800, metavar="SECONDS",
        help="before each timed phase, wait at most this long for the CPUs to be idle",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--json-out", type=Path, help="also write the measurements as JSON")
    # The child's options (internal).
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - set(BACKENDS)
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.code_dir = export_code(args.code, args.workdir) if args.code else None
    args.code_description = describe_code(args.code_dir, args.code)
    log(f"purge benchmark: {args.leads:,} leads on {', '.join(args.backends)} ({load_note()})")
    log(f"code under test: {args.code_description}")
    measurements: list[Measurement] = []
    sizes = (
        [args.leads]
        if args.skip_small or args.leads <= args.small_leads
        else [args.small_leads, args.leads]
    )
    if args.leads > 0:
        for backend in args.backends:
            for size in sizes:
                measurements.append(measure(backend, size, args))
        report(measurements, args.code_description)
        if args.json_out:
            document = {
                "code": args.code_description,
                "measurements": [_as_json(m) for m in measurements],
            }
            args.json_out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    if args.profile_leads:
        profile(args)
    return 0


def _as_json(m: Measurement) -> dict[str, Any]:
    document = asdict(m)
    document.update(ratio=m.ratio, command_ratio=m.command_ratio)
    return document


if __name__ == "__main__":
    sys.exit(main())

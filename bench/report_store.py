"""The report benchmark's stores: one PostgreSQL schema per number of events, bulk-loaded.

- `Chain` seals events in order, as retention/domain/audit_chain.py does (SHA-256 over the
  previous hash, the second the event occurred, action, lead id, run id, request id and
  details, joined by the unit separator), into COPY text rows of audit_events; `Generated` is
  what a generation (bench/report_data.py) wrote, with the rows of the other tables.
- `ReportStore` builds a schema: `retention db upgrade` (the code under test's schema), the
  leads of bench/purge_data.py (purge_store.PostgresStore; then all but those due in the last
  day get a TTL three years after their ingestion: a store the purge keeps up with, so the
  report's backlog is a few thousand leads, not half the store), then in one transaction the
  audit_events rows by COPY as they are generated (the table's secondary indexes dropped
  first and built again after), job_runs, erasure_requests and legal_holds by COPY, the chain
  head, audit_counts and the id sequences; VACUUM (ANALYZE) and CHECKPOINT follow. It also
  says whether a schema already holds a complete store (--reuse), describes one, runs
  `retention audit verify` on it and drops it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from children import ChildRun, checked, retention_argv, run_child
from harness import MB, log, pg_execute
from purge_data import Layout
from purge_store import PostgresStore

__all__ = [
    "Chain",
    "Generated",
    "ReportStore",
    "canonical",
    "copy_row",
    "db_time",
    "log_phases",
    "report_period",
]

GENESIS = "0" * 64
FLUSH_ROWS = 20_000
Facets = tuple[str | None, str | None, str | None, str | None]
NO_FACETS: Facets = (None, None, None, None)
EVENT_COLUMNS = (
    "id, occurred_at, action, lead_id, run_id, request_id, details, prev_hash, hash, category,"
    " portal, rule, reason"
)
TABLES = {
    "job_runs": "id, job, started_at, finished_at, status, dry_run, counts, host, pid, worker,"
    " error",
    "erasure_requests": "id, kind, subject_hash, subject, received_at, due_at, completed_at,"
    " status, leads_erased, source, reference, error",
    "legal_holds": "id, lead_id, subject_kind, subject_hash, reason, created_at, expires_at,"
    " released_at",
}  # fmt: skip
# audit_events' indexes but the primary key's: dropped during the load, built again after.
SECONDARY_INDEXES = """
    SELECT c.relname, pg_get_indexdef(x.indexrelid) FROM pg_index AS x
    JOIN pg_class AS c ON c.oid = x.indexrelid
    WHERE x.indrelid = 'audit_events'::regclass AND NOT x.indisprimary
      AND NOT EXISTS (SELECT 1 FROM pg_constraint AS k WHERE k.conindid = x.indexrelid)
"""
LAST_FULL_WALK = "audit_last_full_walk"  # services/audit.LAST_FULL_WALK


def canonical(details: dict[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def copy_value(value: object) -> str:
    """One column of a COPY text row (None: NULL; bytes: bytea hex)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes):
        return "\\\\x" + value.hex()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_row(*values: object) -> str:
    return "\t".join(copy_value(v) for v in values) + "\n"


def db_time(t: int | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(t))


class Chain:
    """Events sealed in order, written as COPY rows of audit_events through `sink`."""

    def __init__(self, sink: Callable[[str], None]) -> None:
        self.sink, self.prev, self.next_id = sink, GENESIS, 1
        self.counts: Counter[str] = Counter()
        self.rows: list[str] = []
        self._second, self._stamps = -1, ("", "")

    def stamps(self, t: int) -> tuple[str, str]:
        """(hashed text, COPY text) of second `t`."""
        if t != self._second:
            self._second = t
            self._stamps = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), str(db_time(t)))
        return self._stamps

    def add(
        self, t: int, action: str, details: str, *, lead: str | None = None,
        run: int | None = None, request: int | None = None, facets: Facets = NO_FACETS,
    ) -> None:  # fmt: skip
        hashed, stored = self.stamps(t)
        ids = ("" if run is None else str(run), "" if request is None else str(request))
        content = "\x1f".join((self.prev, hashed, action, lead or "", *ids, details))
        digest = hashlib.sha256(content.encode()).hexdigest()
        self.rows.append(
            copy_row(self.next_id, stored, action, lead, run, request, details, self.prev,
                     digest, *facets)
        )  # fmt: skip
        self.prev, self.next_id = digest, self.next_id + 1
        self.counts[action] += 1
        if len(self.rows) >= FLUSH_ROWS:
            self.flush()

    def purged(
        self, t: int, run: int, first: int, k: int, combos: Sequence[tuple[str, ...]],
        per_second: int, lead_of: Callable[[int], str],
    ) -> int:  # fmt: skip
        """`k` lead.purged events of run `run` (leads `first`...), `per_second` of them
        stamped with each second from `t` on, the (details, category, portal, rule) of
        `combos` picked by lead number; returns how many were under the ceiling rule. The hot
        path of the load: the rows are written out here."""
        sha256, rows, prev, event_id = hashlib.sha256, self.rows, self.prev, self.next_id
        ceiling, run_text, size = 0, str(run), len(combos)
        for j in range(k):
            details, category, portal, rule = combos[((first + j) * 40503) % size]
            ceiling += rule == "ceiling"
            hashed, stored = self.stamps(t + j // per_second)
            lead = lead_of(first + j)
            content = f"{prev}\x1f{hashed}\x1flead.purged\x1f{lead}\x1f{run_text}\x1f\x1f{details}"
            digest = sha256(content.encode()).hexdigest()
            rows.append(
                f"{event_id}\t{stored}\tlead.purged\t{lead}\t{run_text}\t\\N\t{details}\t{prev}"
                f"\t{digest}\t{category}\t{portal}\t{rule}\t\\N\n"
            )
            prev, event_id = digest, event_id + 1
            if len(rows) >= FLUSH_ROWS:
                self.flush()
                rows = self.rows
        self.prev, self.next_id = prev, event_id
        self.counts["lead.purged"] += k
        return ceiling

    def flush(self) -> None:
        if self.rows:
            self.sink("".join(self.rows))
            self.rows = []


@dataclass(slots=True)
class Generated:
    """What a generation wrote through its sink, and the COPY rows of the other tables."""

    events: int = 0
    head_hash: str = GENESIS
    counts: dict[str, int] = field(default_factory=dict)
    job_runs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    holds: list[str] = field(default_factory=list)


Generate = Callable[[int, int, Sequence[str], Callable[[str], None]], Generated]


class ReportStore:
    """The schema of one number of events, with `leads` leads."""

    def __init__(self, base_url: str, schema: str, events: int, leads: int) -> None:
        self.base = PostgresStore(base_url, schema)
        self.schema, self.events, self.leads = schema, events, leads

    @property
    def url(self) -> str:
        return self.base.url

    def _connect(self, *, autocommit: bool = True) -> Any:
        return self.base._connect(autocommit=autocommit)

    def state(self) -> str:
        """`absent`, `verified` (complete, its chain walked in full), `built` (complete, not
        walked) or why it is neither."""
        import psycopg

        with self._connect() as conn:
            found = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
            if conn.execute(found, (self.schema,)).fetchone() is None:
                return "absent"
            try:
                head = conn.execute("SELECT event_id FROM audit_head").fetchone()[0] or 0
                leads = conn.execute("SELECT count(*) FROM leads").fetchone()[0]
                walk = conn.execute(
                    "SELECT value FROM store_meta WHERE key = %s", (LAST_FULL_WALK,)
                ).fetchone()
            except psycopg.Error as exc:
                return f"unusable ({type(exc).__name__})"
        if (head, leads) != (self.events, self.leads):
            return f"holds {head:,} events and {leads:,} leads"
        return "verified" if walk and walk[0].startswith(f"{head}:") else "built"

    def build(self, env: dict[str, str], generate: Generate) -> tuple[dict[str, float], Generated]:
        """A fresh store; the seconds of each phase, and what the generation wrote."""
        seconds: dict[str, float] = {}
        started = time.perf_counter()

        def lap(phase: str) -> None:
            nonlocal started
            seconds[phase] = time.perf_counter() - started
            started = time.perf_counter()

        self.base.reset()
        self.base.upgrade(env)
        lap("upgrade")
        now = int(time.time())
        if self.leads:
            self.base.load(Layout(now=now, leads=self.leads))
            with self._connect() as conn:
                conn.execute(
                    "UPDATE leads SET ttl = ingestion_date + interval '3 years' WHERE ttl < %s",
                    (datetime.fromtimestamp(now - 86_400, UTC),),
                )
        lap("leads")
        with self._connect(autocommit=False) as conn:
            pool = [row[0] for row in conn.execute("SELECT lead_id FROM leads LIMIT 1000")]
            indexes = conn.execute(SECONDARY_INDEXES).fetchall()
            for name, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            with (
                conn.cursor() as cur,
                cur.copy(f"COPY audit_events ({EVENT_COLUMNS}) FROM STDIN") as copy,
            ):
                out = generate(self.events, now, pool, copy.write)
            lap("events")
            for table, rows in zip(TABLES, (out.job_runs, out.requests, out.holds), strict=True):
                with (
                    conn.cursor() as cur,
                    cur.copy(f"COPY {table} ({TABLES[table]}) FROM STDIN") as copy,
                ):
                    for start in range(0, len(rows), FLUSH_ROWS):
                        copy.write("".join(rows[start : start + FLUSH_ROWS]))
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
                )
            conn.execute(
                "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), %s)", (out.events,)
            )
            conn.execute(
                "UPDATE audit_head SET event_id = %s, hash = %s WHERE id = 1",
                (out.events, out.head_hash),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO audit_counts (action, events) VALUES (%s, %s)",
                    sorted(out.counts.items()),
                )
            lap("other tables")
            conn.execute("SET maintenance_work_mem = '512MB'")
            for _, definition in indexes:
                conn.execute(definition)
            conn.commit()
        lap("indexes")
        tables = ("audit_events", "leads", "lead_subjects", *TABLES)
        pg_execute(self.url, *(f"VACUUM (ANALYZE) {table}" for table in tables), "CHECKPOINT")
        lap("vacuum")
        return seconds, out

    def verify(self, env: dict[str, str]) -> tuple[ChildRun, dict[str, Any]]:
        """`retention audit verify --json`: the full walk the report's chain check builds on."""
        run = checked(run_child(retention_argv("audit", "verify", "--json"), env), "audit verify")
        document: dict[str, Any] = json.loads(run.stdout)
        if not document.get("ok") or document.get("events") != self.events:
            raise SystemExit(f"audit verify of {self.schema}: {run.stdout.strip()}")
        return run, document

    def last_day(self) -> date:
        """The day (UTC) of the newest event: the report's period ends the day before."""
        with self._connect() as conn:
            moment = conn.execute(
                "SELECT occurred_at FROM audit_events WHERE id = (SELECT event_id FROM audit_head)"
            ).fetchone()[0]
        return moment.astimezone(UTC).date()  # type: ignore[no-any-return]

    def describe(self) -> list[str]:
        """A few lines on what the store holds."""
        with self._connect() as conn:

            def rows(sql: str) -> list[Any]:
                return list(conn.execute(sql).fetchall())

            counts = rows("SELECT action, events FROM audit_counts ORDER BY events DESC")
            runs = rows("SELECT job, count(*) FROM job_runs GROUP BY job ORDER BY job")
            requests = rows(
                "SELECT status, count(*) FROM erasure_requests GROUP BY status ORDER BY status"
            )
            holds, active = rows(
                "SELECT count(*), count(*) FILTER (WHERE released_at IS NULL AND"
                " (expires_at IS NULL OR expires_at > now())) FROM legal_holds"
            )[0]
            leads, due = rows("SELECT count(*), count(*) FILTER (WHERE ttl <= now()) FROM leads")[0]
            sizes = rows(
                "SELECT pg_total_relation_size('audit_events'), pg_total_relation_size('leads')"
            )[0]
        text = ", ".join
        events = text(f"{action} {n:,}" for action, n in counts)
        jobs, statuses = (
            text(f"{j} {n:,}" for j, n in runs),
            text(f"{s} {n:,}" for s, n in requests),
        )
        mib = f"audit_events {sizes[0] // MB:,} MiB, leads {sizes[1] // MB:,} MiB"
        return [
            f"events: {events}",
            f"job runs: {jobs}; requests: {statuses}; holds {holds:,} ({active:,} active)",
            f"leads {leads:,} ({due:,} due); {mib}",
        ]

    def drop(self) -> None:
        self.base.drop()


def report_period(last_day: date) -> tuple[str, str]:
    """--since and --until of the 30 whole days before `last_day`."""
    return (last_day - timedelta(days=30)).isoformat(), (last_day - timedelta(days=1)).isoformat()


def log_phases(what: str, seconds: dict[str, float]) -> None:
    log(f"{what}: " + ", ".join(f"{phase} {s:.1f} s" for phase, s in seconds.items()))

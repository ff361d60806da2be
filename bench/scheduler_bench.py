"""Scheduler benchmark: deletion lag, the idle check's cost, the scheduler's memory over time.

Three phases (`--phases`, default all three, one after the other):

- `lag`: on each backend a store of `--background` leads that are not due and `--due` leads
  whose TTLs are spread evenly over `--spread` seconds, starting `--lead-in` seconds after
  `retention scheduler` (the default schedule: purge every minute) is started on it. When the
  last TTL is 75 s past, the scheduler gets SIGTERM (its exit code and the seconds it took to
  stop are printed). A lead's lag is the time from its TTL to the end of the run that
  deleted it (job_runs.finished_at: the deletion had committed by then, so this is an upper
  bound; the run's start, its `now`, is printed too). Target: max <= 60 s.
- `idle`: a store of `--idle-leads` leads (bench/purge_store.py's data, every TTL then moved
  past the end of the run) with nothing due; `purge_job(check_first=True)`, as the scheduler
  and `retention run purge` call it, `--checks` times in one process, each timed; the rows of
  audit_events, job_runs and job_checks counted before and after; then `retention run purge`
  as a cron line runs it, and `retention status --json` (each a new process, start-up
  included, median of 5). Target: under 10 ms per check and zero rows written.
- `memory`: `retention scheduler` on each backend for `--memory-minutes` (default 60) minutes
  of every-minute checks, with a few leads due every five minutes so that some runs purge;
  the scheduler's RSS sampled every 5 s. Printed: peak RSS (VmHWM) at the end of the first
  ten minutes and at the end, and the growth between. Target: growth under 10%.

    .venv/bin/python bench/scheduler_bench.py --workdir /tmp/sbench
    .venv/bin/python bench/scheduler_bench.py --phases memory --memory-minutes 60

The lag and memory phases run both backends at once (each scheduler waits for its triggers,
so they barely share the CPUs); the idle phase one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from children import checked, proc_status_mb, report_to_parent, retention_argv, run_child
from harness import (
    Column,
    add_common_options,
    checkpoint_sqlite,
    child_env,
    emit,
    environment,
    log,
    percentile,
    pg_identifier,
    pg_url_with_schema,
    prepare_code,
    remove_sqlite_store,
    reset_pg_schema,
    table,
    use_code,
)
from synthetic import iter_leads

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "scheduler_bench"
PHASES = ("lag", "idle", "memory")


# --- stores and processes --------------------------------------------------------------------


@dataclass
class Target:
    """One backend's store for a phase."""

    backend: str
    url: str
    env: dict[str, str]
    workdir: Path

    def upgrade(self) -> None:
        checked(run_child(retention_argv("db", "upgrade", "--json"), self.env), "db upgrade")

    def import_leads(self, leads: list[dict[str, Any]], name: str) -> None:
        path = self.workdir / f"{self.backend}-{name}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for lead in leads:
                handle.write(json.dumps(lead, separators=(",", ":")) + "\n")
        checked(run_child(retention_argv("import", str(path), "--json"), self.env), "import")
        path.unlink()

    def query(self, statement: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return [tuple(row) for row in conn.execute(text(statement))]
        finally:
            engine.dispose()


def make_target(backend: str, phase: str, args: argparse.Namespace) -> Target:
    if backend == "postgresql":
        schema = f"{args.pg_schema}_{phase}"
        reset_pg_schema(args.pg_url, schema)
        url = pg_url_with_schema(args.pg_url, schema)
    else:
        path = args.workdir / f"scheduler-bench-{phase}.db"
        remove_sqlite_store(path)
        url = f"sqlite:///{path}"
    return Target(backend, url, child_env(url, args.code_dir), args.workdir)


def drop_target(target: Target, phase: str, args: argparse.Namespace) -> None:
    if args.keep:
        return
    if target.backend == "postgresql":
        reset_pg_schema(args.pg_url, f"{args.pg_schema}_{phase}", create=False)
    else:
        remove_sqlite_store(args.workdir / f"scheduler-bench-{phase}.db")


def synthetic_leads(
    count: int, seed: int, ttls: Sequence[int] | None, now: datetime
) -> list[dict[str, Any]]:
    """`count` leads ingested within the last 30 days, with these TTLs (None: in 1 to 2 years)."""
    leads = []
    newest = int(now.timestamp())
    for index, lead in enumerate(iter_leads(count, seed, now)):
        meta = lead["metadata"]
        meta["ingestionDate"] = newest - 60 - (index * 7919) % (30 * 86_400)
        meta["TTL"] = ttls[index] if ttls is not None else newest + 365 * 86_400 + index
        leads.append(lead)
    return leads


class Scheduler:
    """`retention scheduler` in a child process, its log in a file, its RSS sampled."""

    def __init__(self, target: Target, phase: str) -> None:
        self.log_path = target.workdir / f"{phase}-{target.backend}-scheduler.log"
        self.handle = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "retention", "scheduler"], env=target.env,
            stdout=self.handle, stderr=subprocess.STDOUT, cwd=target.workdir,
        )  # fmt: skip
        self.started = time.monotonic()
        self.samples: list[tuple[float, float, float]] = []  # (seconds, VmRSS, VmHWM)
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._done.wait(5.0):
            if self.process.poll() is not None:
                return
            pid = self.process.pid
            elapsed = time.monotonic() - self.started
            rss, peak = proc_status_mb("VmRSS", pid), proc_status_mb("VmHWM", pid)
            self.samples.append((elapsed, rss, peak))

    def stop(self) -> tuple[int, float]:
        """SIGTERM; the exit code and the seconds until it exited."""
        self._done.set()
        sent = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.handle.close()
        return code, time.monotonic() - sent

    def log_lines(self, word: str) -> int:
        return sum(word in line for line in self.log_path.read_text(encoding="utf-8").splitlines())


def as_utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


# --- lag -------------------------------------------------------------------------------------


@dataclass
class LagResult:
    backend: str
    due: int
    purged: int
    left: int
    lags: list[float]  # TTL to the end of the run that deleted the lead
    start_lags: list[float]  # TTL to that run's start
    purge_runs: int
    idle_checks: int
    exit_code: int
    stop_seconds: float


def lag_store(backend: str, args: argparse.Namespace, start: int) -> tuple[Target, dict[str, int]]:
    target = make_target(backend, "lag", args)
    target.upgrade()
    now = datetime.now(UTC)
    target.import_leads(synthetic_leads(args.background, 1, None, now), "background")
    step = args.spread / max(args.due - 1, 1)
    ttls = [start + round(i * step) for i in range(args.due)]
    leads = synthetic_leads(args.due, 2, ttls, now)
    target.import_leads(leads, "due")
    return target, {lead["metadata"]["leadId"]: lead["metadata"]["TTL"] for lead in leads}


def run_lag(backend: str, args: argparse.Namespace, target: Target, ttls: dict[str, int],
            start: int, results: dict[str, LagResult]) -> None:  # fmt: skip
    scheduler = Scheduler(target, "lag")
    end = start + args.spread + 75
    while time.time() < end:
        time.sleep(1.0)
    code, stop_seconds = scheduler.stop()
    rows = target.query(
        "SELECT e.lead_id, r.started_at, r.finished_at FROM audit_events e"
        " JOIN job_runs r ON r.id = e.run_id WHERE e.action = 'lead.purged'"
    )
    lags, start_lags = [], []
    for lead_id, started_at, finished_at in rows:
        if lead_id in ttls:
            lags.append(as_utc(finished_at).timestamp() - ttls[lead_id])
            start_lags.append(as_utc(started_at).timestamp() - ttls[lead_id])
    left = target.query("SELECT count(*) FROM leads")[0][0] - args.background
    runs = target.query("SELECT count(*) FROM job_runs WHERE job = 'purge'")[0][0]
    results[backend] = LagResult(
        backend, len(ttls), len(lags), left, lags, start_lags, runs,
        scheduler.log_lines("nothing to do"), code, stop_seconds,
    )  # fmt: skip
    drop_target(target, "lag", args)


def lag_phase(args: argparse.Namespace) -> list[str]:
    start = int(time.time()) + args.lead_in + 60 * len(args.backends)  # the stores' build
    log(f"lag: {args.due} leads due from {datetime.fromtimestamp(start, UTC):%H:%M:%S} UTC over "
        f"{args.spread} s, {args.background:,} not due, on {', '.join(args.backends)}")  # fmt: skip
    stores = {backend: lag_store(backend, args, start) for backend in args.backends}
    if time.time() > start - 30:
        raise SystemExit("the stores took too long to build: raise --lead-in")
    results: dict[str, LagResult] = {}
    threads = [
        threading.Thread(target=run_lag, args=(b, args, t, ttls, start, results))
        for b, (t, ttls) in stores.items()
    ]
    for thread in threads:
        thread.start()
    log(f"lag: schedulers started; done at about "
        f"{datetime.fromtimestamp(start + args.spread + 75, UTC):%H:%M:%S} UTC")  # fmt: skip
    for thread in threads:
        thread.join()
    columns = [Column("backend", 10, left=True), Column("due", 6), Column("purged", 7),
               Column("left", 5), Column("median s", 9), Column("p99 s", 7), Column("max s", 7),
               Column("max from run start", 19), Column("purge runs", 11),
               Column("idle checks", 12), Column("SIGTERM exit", 13),
               Column("stop s", 7)]  # fmt: skip
    rows = []
    for backend in args.backends:
        r = results[backend]
        rows.append([
            r.backend, str(r.due), str(r.purged), str(r.left),
            f"{statistics.median(r.lags):.2f}" if r.lags else "-",
            f"{percentile(r.lags, 0.99):.2f}", f"{max(r.lags, default=0):.2f}",
            f"{max(r.start_lags, default=0):.2f}", str(r.purge_runs), str(r.idle_checks),
            str(r.exit_code), f"{r.stop_seconds:.2f}",
        ])  # fmt: skip
    verdict = all(r.left == 0 and r.lags and max(r.lags) <= 60 for r in results.values())
    return [
        (
            f"Deletion lag, default schedule (purge every minute), TTLs over {args.spread} s, "
            f"{args.background:,} leads not due; lag = TTL to the end of the deleting run:"
        ),
        *table(columns, rows),
        f"target max <= 60 s: {'met' if verdict else 'MISSED'}",
    ]


# --- idle ------------------------------------------------------------------------------------


_COUNTED = ("audit_events", "job_runs", "job_checks")


def idle_child(args: argparse.Namespace) -> int:
    """In a child: `--checks` idle purge checks, each timed, rows counted around them."""
    use_code(Path(args.code_dir))
    from sqlalchemy import text

    from jobs.purge import purge_job
    from retention.config import load_settings
    from retention.storage.engine import create_store_engine

    settings = load_settings()
    engine = create_store_engine(settings.database)

    def counts() -> dict[str, int]:
        with engine.connect() as conn:
            return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one())
                    for t in _COUNTED}  # fmt: skip

    purge_job(settings, engine, check_first=True)  # warm-up: connection, statements cached
    before = counts()
    seconds, statuses = [], set()
    for _ in range(args.checks):
        started = time.perf_counter()
        run = purge_job(settings, engine, check_first=True)
        seconds.append(time.perf_counter() - started)
        statuses.add(run.outcome.status)
    after = counts()
    report_to_parent(
        {"seconds": seconds, "statuses": sorted(statuses), "before": before, "after": after},
        baseline_rss_mb=0.0,
    )
    return 0


def idle_store(backend: str, args: argparse.Namespace) -> Target:
    """bench/purge_store.py's store, then every lead's TTL moved three years later."""
    from purge_data import Layout
    from purge_store import PostgresStore, SQLiteStore

    target = make_target(backend, "idle", args)
    store: Any
    if backend == "postgresql":
        store = PostgresStore(args.pg_url, f"{args.pg_schema}_idle")
    else:
        store = SQLiteStore(args.workdir, args.idle_leads)
        store.path = args.workdir / "scheduler-bench-idle.db"
    store.reset()
    store.upgrade(target.env)
    store.load(Layout(now=int(time.time()), leads=args.idle_leads))
    if backend == "postgresql":
        from harness import pg_execute

        pg_execute(target.url, "UPDATE leads SET ttl = ttl + interval '3 years' "
                   "WHERE ttl <= now() + interval '1 day'", "VACUUM (ANALYZE) leads")  # fmt: skip
    else:
        import sqlite3

        conn = sqlite3.connect(store.path, isolation_level=None)
        conn.execute(
            "UPDATE leads SET ttl = strftime('%Y-%m-%d %H:%M:%S', ttl, '+3 years') || '.000000'"
            " WHERE ttl <= strftime('%Y-%m-%d %H:%M:%S', 'now', '+1 day')"
        )
        conn.execute("ANALYZE")
        conn.close()
        checkpoint_sqlite(store.path)
    return target


def idle_phase(args: argparse.Namespace) -> list[str]:
    columns = [Column("backend", 10, left=True), Column("leads", 10), Column("median ms", 10),
               Column("p99 ms", 8), Column("max ms", 8), Column("rows added", 11),
               Column("status", 8), Column("cron line, median s", 20),
               Column("`status`, median s", 19)]  # fmt: skip
    rows, ok = [], True
    for backend in args.backends:
        log(f"idle: {backend}: building {args.idle_leads:,} leads, nothing due")
        target = idle_store(backend, args)
        child = checked(run_child([sys.executable, __file__, "--idle-child", "--code-dir",
                                   str(args.code_dir), "--checks", str(args.checks)],
                                  target.env), "idle checks")  # fmt: skip
        result = child.result
        ms = [s * 1000 for s in result["seconds"]]
        added = sum(result["after"][t] - result["before"][t] for t in _COUNTED)
        cron, status = [], []
        for _ in range(5):
            run = checked(run_child(retention_argv("run", "purge", "--json"), target.env),
                          "run purge")  # fmt: skip
            cron.append(run.wall_seconds)
            view = checked(run_child(retention_argv("status", "--json"), target.env), "status")
            status.append(view.wall_seconds)
        ok = ok and percentile(ms, 0.5) < 10 and added == 0
        rows.append([backend, f"{args.idle_leads:,}", f"{statistics.median(ms):.2f}",
                     f"{percentile(ms, 0.99):.2f}", f"{max(ms):.2f}", str(added),
                     ",".join(result["statuses"]), f"{statistics.median(cron):.2f}",
                     f"{statistics.median(status):.2f}"])  # fmt: skip
        log(f"idle: {backend}: {result['before']} -> {result['after']}")
        drop_target(target, "idle", args)
    return [
        (
            f"Idle check cost: purge_job(check_first=True) x {args.checks} in one process, "
            "nothing due; rows added to audit_events + job_runs + job_checks:"
        ),
        *table(columns, rows),
        f"target under 10 ms and zero rows: {'met' if ok else 'MISSED'}",
    ]


# --- memory ----------------------------------------------------------------------------------


def memory_phase(args: argparse.Namespace) -> list[str]:
    minutes = args.memory_minutes
    targets = {}
    for backend in args.backends:
        target = make_target(backend, "memory", args)
        target.upgrade()
        target.import_leads(synthetic_leads(args.background, 3, None, datetime.now(UTC)), "bg")
        targets[backend] = target
    schedulers = {backend: Scheduler(t, "memory") for backend, t in targets.items()}
    log(f"memory: schedulers started on {', '.join(targets)} for {minutes} minutes")
    started = time.monotonic()
    batch = 0
    while time.monotonic() - started < minutes * 60:
        elapsed = time.monotonic() - started
        if elapsed >= batch * 300:  # every five minutes: a few leads due in the next 2 minutes
            soon = int(time.time()) + 30
            for target in targets.values():
                target.import_leads(
                    synthetic_leads(5, 100 + batch, [soon + 20 * i for i in range(5)],
                                    datetime.now(UTC)), f"due-{batch}")  # fmt: skip
            batch += 1
            log(
                f"memory: {elapsed / 60:.0f} min: "
                + ", ".join(
                    f"{b}: {s.samples[-1][1]:.1f} MiB" for b, s in schedulers.items() if s.samples
                )
            )
        time.sleep(5.0)
    columns = [Column("backend", 10, left=True), Column("peak at 10 min", 15),
               Column("peak at end", 12), Column("growth", 7), Column("RSS at 10 min", 14),
               Column("RSS at end", 11), Column("purge runs", 11), Column("idle checks", 12),
               Column("SIGTERM exit", 13)]  # fmt: skip
    rows, ok = [], True
    for backend, scheduler in schedulers.items():
        code, _ = scheduler.stop()
        at_ten = [s for s in scheduler.samples if s[0] <= 600] or scheduler.samples[:1]
        first_peak, last_peak = at_ten[-1][2], scheduler.samples[-1][2]
        growth = last_peak / first_peak - 1 if first_peak else 0.0
        ok = ok and growth < 0.10 and code == 0
        runs = targets[backend].query("SELECT count(*) FROM job_runs WHERE job = 'purge'")[0][0]
        rows.append([backend, f"{first_peak:.1f} MiB", f"{last_peak:.1f} MiB", f"{growth:+.1%}",
                     f"{at_ten[-1][1]:.1f} MiB", f"{scheduler.samples[-1][1]:.1f} MiB", str(runs),
                     str(scheduler.log_lines("nothing to do")), str(code)])  # fmt: skip
        samples = args.workdir / f"memory-{backend}-rss.csv"
        samples.write_text(
            "seconds,vmrss_mib,vmhwm_mib\n"
            + "".join(f"{s:.0f},{r:.2f},{h:.2f}\n" for s, r, h in scheduler.samples),
            encoding="utf-8",
        )
        drop_target(targets[backend], "memory", args)
    return [
        (
            f"Scheduler memory over {minutes} minutes of every-minute checks (5 leads due "
            f"every 5 minutes, {args.background:,} not due); samples every 5 s in "
            f"{args.workdir}/memory-*-rss.csv:"
        ),
        *table(columns, rows),
        f"target growth under 10%: {'met' if ok else 'MISSED'}",
    ]


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_common_options(
        parser, pg_url=os.environ.get("RETENTION_BENCH_PG_URL", PG_URL),
        pg_url_help="PostgreSQL to use (a schema is created and dropped)",
        workdir=Path("/tmp/scheduler-bench"), workdir_help="stores, logs and samples",
        idle_below=0.25, idle_timeout=120.0,
    )  # fmt: skip
    add = parser.add_argument
    add("--phases", default=",".join(PHASES), help="lag,idle,memory")
    add("--due", type=int, default=1200, help="lag: leads due")
    add("--spread", type=int, default=600, help="lag: seconds their TTLs are spread over")
    add("--lead-in", type=int, default=90, help="lag: seconds from start to the first TTL")
    add("--background", type=int, default=20_000, help="lag, memory: leads not due")
    add("--idle-leads", type=int, default=1_000_000, help="idle: leads in the store")
    add("--checks", type=int, default=300, help="idle: checks timed")
    add("--memory-minutes", type=int, default=60, help="memory: how long the schedulers run")
    add("--pg-schema", default=PG_SCHEMA, help="prefix of the PostgreSQL schemas it builds")
    add("--keep", action="store_true", help="keep the stores afterwards")
    add("--idle-child", action="store_true", help=argparse.SUPPRESS)
    add("--code-dir", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    pg_identifier(parser, "--pg-schema", args.pg_schema)
    args.phases = [p for p in args.phases.split(",") if p]
    if unknown := set(args.phases) - set(PHASES):
        parser.error(f"unknown phase {', '.join(sorted(unknown))}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.idle_child:
        return idle_child(args)
    prepare_code(args, args.workdir, "scheduler benchmark")
    lines = [*environment(args.pg_url), f"code: {args.code_description}", ""]
    for phase in args.phases:
        lines += {"lag": lag_phase, "idle": idle_phase, "memory": memory_phase}[phase](args)
        lines.append("")
        for line in lines:
            emit(line)
        lines = []
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

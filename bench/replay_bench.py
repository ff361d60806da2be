"""Benchmark of `retention replay` against the purge and erasure jobs that did the same work.

Run by hand, never by the test suite (at 1,000,000 leads it takes a long while and writes
gigabytes under bench/out/). Use the Python of the venv where lead-retention is installed:

    # 1,000,000 leads: a journal of about a million events, half lead.purged, half
    # lead.erased, on SQLite and PostgreSQL:
    /work/venv/bin/python bench/replay_bench.py

    # smaller and narrower (a check that it works):
    /work/venv/bin/python bench/replay_bench.py --leads 20000 --backends sqlite

    # a PostgreSQL database and schema of its own; pin the code under test to a commit:
    /work/venv/bin/python bench/replay_bench.py --pg-url postgresql+psycopg://u@host/db \
        --pg-schema retention_rbench_2 --code HEAD

What it does, per backend:

1. Builds the store of bench/purge_bench.py (bench/purge_data.py: `--leads` leads of ~2 KB,
   every other one due, bulk-loaded in SQL; SQLite a file under the work folder, PostgreSQL
   the schema `retention_rbench`), then gives the leads that are not due to erasure
   requests: every `--leads-per-request` (10) of them share one email hash, and one pending
   email request per hash is queued (in SQL, as a `requests import` would leave them). That
   is the backup.
2. The jobs: `jobs.purge.purge_job` (force: half the store is due) then
   `jobs.erasure.erasure_job` (the config's workers), in a child interpreter (`--child jobs`)
   with the audit journal on (RETENTION_AUDIT_JOURNAL_FILE) and a RunObserver
   (bench/recorder.py): the time of each job's phase `work` (the purge's batches, the
   erasure's batches: the same work replay does), of its `residue` step, and its whole run
   (which ends with the journal sync).
3. The store is built again exactly as in step 1 (the restore from the backup), and `replay`
   (`retention.services.replay.replay_journal`, what `retention replay --journal` runs) runs
   on it in another child (`--child replay`): the phases `check` (the whole journal read and
   checked), `work` (the batches: leads deleted and erased, requests' statuses, the events
   inserted) and `residue`, and the child's peak RSS (VmHWM).
4. Prints the ratio of the jobs' work to replay's check + work (the target: at least 0.5,
   replay no slower than half the jobs' speed), the same for the whole runs, replay's events
   per second and its peak RSS; and checks that replay deleted and erased as many leads as
   the jobs.

Before each timed phase it waits until the CPUs are idle (--idle-below, --idle-timeout).
Progress goes to stderr, the results to stdout. Nothing here asserts timings. Stores and the
journal are removed at the end unless --keep. What the benchmarks share is in
bench/harness.py and bench/children.py.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from children import checked, proc_status_mb, report_to_parent, run_child
from harness import (
    BusyMeter,
    Column,
    RunTimings,
    add_common_options,
    child_env,
    emit,
    environment,
    load_note,
    log,
    pg_identifier,
    prepare_code,
    resolved_path,
    table,
    wait_idle,
)
from purge_data import Layout
from purge_store import PostgresStore, SQLiteStore, Store

HERE = Path(__file__).resolve().parent
DEFAULT_WORKDIR = HERE / "out" / "replay"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "retention_rbench"


# --- in the children ---------------------------------------------------------------------------


def child_main(args: argparse.Namespace) -> int:
    """`--child jobs`: the purge then the erasure job; `--child replay`: replay the journal.
    Each observed by a Recorder; the figures go to the parent with the peak RSS."""
    from recorder import Recorder
    from retention import clock
    from retention.config import load_settings
    from retention.storage.engine import check_schema_current, create_store_engine

    baseline = proc_status_mb()
    settings = load_settings()
    engine = create_store_engine(settings.database)
    result: dict[str, Any] = {}
    try:
        check_schema_current(engine)
        if args.child == "jobs":
            from jobs.erasure import erasure_job
            from jobs.purge import purge_job

            for name in ("purge", "erasure"):
                recorder = Recorder()
                started = time.perf_counter()
                if name == "purge":
                    run: Any = purge_job(settings, engine, force=True, observer=recorder)
                else:
                    run = erasure_job(settings, engine, observer=recorder)
                result[name] = {
                    "timings": asdict(recorder.timings),
                    "seconds": time.perf_counter() - started,
                    "status": run.outcome.status,
                    "journaled": run.published.journaled if run.published else 0,
                }
        else:
            from retention.services.replay import replay_journal

            recorder = Recorder()
            started = time.perf_counter()
            replayed = replay_journal(
                settings, engine, Path(args.journal), now=clock.utcnow(), observer=recorder
            )
            result["replay"] = {
                "timings": asdict(recorder.timings),
                "seconds": time.perf_counter() - started,
                "events": replayed.events_restored,
                "purged": replayed.purged,
                "erased": replayed.erased,
                "batches": replayed.batches,
            }
    finally:
        engine.dispose()
    report_to_parent(result, baseline_rss_mb=baseline)
    return 0


# --- the store --------------------------------------------------------------------------------


def make_store(backend: str, leads: int, args: argparse.Namespace) -> Store:
    if backend == "postgresql":
        return PostgresStore(args.pg_url, args.pg_schema)
    return SQLiteStore(args.workdir, leads)


def _group_hash(group: int) -> bytes:
    return hashlib.sha256(f"bench-replay-seeker:{group}".encode()).digest()


def queue_requests(store: Store, layout: Layout, per_request: int) -> int:
    """Every `per_request` leads not due share one email hash; one pending email request per
    hash. Returns the number of requests."""
    from sqlalchemy import create_engine, text

    now = datetime.fromtimestamp(layout.now, UTC)
    bound: Any = now.strftime("%Y-%m-%d %H:%M:%S.%f") if store.dialect == "sqlite" else now
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            ids = list(conn.scalars(
                text("SELECT lead_id FROM leads WHERE ttl > :now ORDER BY lead_id"), {"now": bound}
            ))  # fmt: skip
            conn.execute(
                text(
                    "DELETE FROM lead_subjects WHERE kind = 'email' AND lead_id IN "
                    "(SELECT lead_id FROM leads WHERE ttl > :now)"
                ),
                {"now": bound},
            )
            rows = [{"lead_id": lead_id, "digest": _group_hash(i // per_request)}
                    for i, lead_id in enumerate(ids)]  # fmt: skip
            for start in range(0, len(rows), 50_000):
                conn.execute(
                    text(
                        "INSERT INTO lead_subjects (lead_id, kind, subject_hash) "
                        "VALUES (:lead_id, 'email', :digest)"
                    ),
                    rows[start : start + 50_000],
                )
            groups = (len(ids) + per_request - 1) // per_request
            received = now - timedelta(days=1)
            times: list[Any] = [received, received + timedelta(days=30)]
            if store.dialect == "sqlite":
                times = [t.strftime("%Y-%m-%d %H:%M:%S.%f") for t in times]
            conn.execute(
                text(
                    "INSERT INTO erasure_requests (kind, subject_hash, received_at, due_at, "
                    "status, leads_erased, source) VALUES ('email', :digest, :received, :due, "
                    "'pending', 0, 'file')"
                ),
                [
                    {"digest": _group_hash(g), "received": times[0], "due": times[1]}
                    for g in range(groups)
                ],
            )
    finally:
        engine.dispose()
    return groups


def build(store: Store, layout: Layout, args: argparse.Namespace) -> float:
    """The backup: the leads, the subject hashes, the queued requests."""
    started = time.perf_counter()
    store.reset()
    store.upgrade(child_env(store.url, args.code_dir))
    store.load(layout)
    requests = queue_requests(store, layout, args.leads_per_request)
    log(f"  {store.dialect}: {requests:,} requests of {args.leads_per_request} leads queued")
    store.prepare()
    return time.perf_counter() - started


# --- one backend ------------------------------------------------------------------------------


@dataclass(slots=True)
class Measurement:
    backend: str
    leads: int
    events: int  # replayed
    purge: RunTimings
    erasure: RunTimings
    replay: RunTimings
    jobs_seconds: float  # both runs, whole
    replay_seconds: float  # whole
    purged: tuple[int, int]  # jobs, replay
    erased: tuple[int, int]
    replay_rss_mb: float
    jobs_busy: float
    replay_busy: float

    @property
    def jobs_work(self) -> float:
        return self.purge.phases.get("work", 0.0) + self.erasure.phases.get("work", 0.0)

    @property
    def replay_work(self) -> float:
        return self.replay.phases.get("check", 0.0) + self.replay.phases.get("work", 0.0)

    @property
    def ratio(self) -> float:
        return self.jobs_work / self.replay_work if self.replay_work else 0.0

    @property
    def whole_ratio(self) -> float:
        return self.jobs_seconds / self.replay_seconds if self.replay_seconds else 0.0


def _child(kind: str, store: Store, journal: Path, args: argparse.Namespace) -> Any:
    env = child_env(store.url, args.code_dir, {"RETENTION_AUDIT_JOURNAL_FILE": str(journal)})
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind]
    if kind == "replay":
        command += ["--journal", str(journal)]
    run = checked(run_child(command, env), f"the {kind} child")
    if not str(run.report.get("retention_file")).startswith(str(args.code_dir)):
        raise SystemExit(f"the child imported {run.report.get('retention_file')}")
    return run


def idle_note(args: argparse.Namespace) -> str:
    busy = wait_idle(args.idle_below, args.idle_timeout)
    return f"CPUs {busy:.0%} busy before the phase, {load_note()}"


def measure(backend: str, args: argparse.Namespace) -> Measurement:
    leads = args.leads
    store = make_store(backend, leads, args)
    journal = args.workdir / f"replay-bench-{backend}-{leads}.jsonl"
    layout = Layout(now=int(time.time()), leads=leads)
    try:
        journal.unlink(missing_ok=True)
        log(f"{backend}, {leads:,} leads: building the store")
        log(f"{backend}: built in {build(store, layout, args):.0f} s")
        log(f"{backend}: the jobs ({idle_note(args)})")
        meter = BusyMeter()
        jobs = _child("jobs", store, journal, args)
        jobs_busy = meter.share()
        purge, erasure = jobs.result["purge"], jobs.result["erasure"]
        log(
            f"{backend}: purge {purge['status']} in {purge['seconds']:.2f} s, erasure "
            f"{erasure['status']} in {erasure['seconds']:.2f} s; journal "
            f"{journal.stat().st_size / 1024 / 1024:.0f} MiB"
        )
        log(f"{backend}: restoring the backup (building the store again)")
        build(store, layout, args)
        log(f"{backend}: replay ({idle_note(args)})")
        meter = BusyMeter()
        replayed = _child("replay", store, journal, args)
        replay_busy = meter.share()
        replay = replayed.result["replay"]
        log(
            f"{backend}: replay of {replay['events']:,} events in {replay['seconds']:.2f} s "
            f"({replay['batches']} batches); peak RSS {replayed.peak_rss_mb:.0f} MiB"
        )
        purge_t, erasure_t = RunTimings(**purge["timings"]), RunTimings(**erasure["timings"])
        measured = Measurement(
            backend, leads, replay["events"], purge_t, erasure_t,
            RunTimings(**replay["timings"]), purge["seconds"] + erasure["seconds"],
            replay["seconds"], (int(purge_t.counts.get("deleted", 0)), replay["purged"]),
            (int(erasure_t.counts.get("leads_erased", 0)), replay["erased"]),
            replayed.peak_rss_mb, jobs_busy, replay_busy,
        )  # fmt: skip
        if measured.purged[0] != measured.purged[1] or measured.erased[0] != measured.erased[1]:
            log(f"WARNING: replay purged/erased {measured.purged}/{measured.erased} (jobs, replay)")
        return measured
    finally:
        if not args.keep:
            store.drop()
            journal.unlink(missing_ok=True)


# --- report -----------------------------------------------------------------------------------

COLUMNS = (
    Column("backend", 11, left=True), Column("leads", 10), Column("events", 10),
    Column("jobs work s", 12), Column("replay s", 9), Column("ratio", 6),
    Column("jobs whole s", 13), Column("replay whole s", 15), Column("ratio", 6),
    Column("events/s", 9), Column("replay RSS MiB", 15),
)  # fmt: skip


def _cells(m: Measurement) -> list[str]:
    rate = m.events / m.replay_work if m.replay_work else 0.0
    return [
        m.backend, f"{m.leads:,}", f"{m.events:,}", f"{m.jobs_work:.2f}", f"{m.replay_work:.2f}",
        f"{m.ratio:.2f}", f"{m.jobs_seconds:.2f}", f"{m.replay_seconds:.2f}",
        f"{m.whole_ratio:.2f}", f"{rate:,.0f}", f"{m.replay_rss_mb:.0f}",
    ]  # fmt: skip


def report(measurements: Sequence[Measurement], args: argparse.Namespace) -> None:
    emit()
    emit(f"replay benchmark, {args.leads_per_request} leads per erasure request; code under "
         f"test: {args.code_description}")  # fmt: skip
    for line in environment(args.pg_url if "postgresql" in args.backends else None):
        emit(line)
    for line in table(COLUMNS, (_cells(m) for m in measurements)):
        emit(line)
    for m in measurements:
        p, e, r = m.purge.phases, m.erasure.phases, m.replay.phases
        emit(
            f"  {m.backend}: jobs: purge work {p.get('work', 0):.2f} s + residue "
            f"{p.get('residue', 0):.2f} s, erasure work {e.get('work', 0):.2f} s + residue "
            f"{e.get('residue', 0):.2f} s; replay: check {r.get('check', 0):.2f} s, work "
            f"{r.get('work', 0):.2f} s, residue {r.get('residue', 0):.2f} s, "
            f"{m.replay.batches_text('events')}"
        )
        emit(
            f"    leads purged (jobs, replay) {m.purged}, erased {m.erased}; target 0.5: "
            f"{'met' if m.ratio >= 0.5 else 'MISSED'}; CPUs busy {m.jobs_busy:.0%} (jobs), "
            f"{m.replay_busy:.0%} (replay)"
        )


# --- command line -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_common_options(
        parser, pg_url=DEFAULT_PG_URL, pg_url_help="PostgreSQL server and database",
        workdir=DEFAULT_WORKDIR, workdir_help="the SQLite stores, the journal, --code exports",
        idle_below=0.10, idle_timeout=1800,
    )  # fmt: skip
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads (half of them due)")
    parser.add_argument("--leads-per-request", type=int, default=10,
                        help="leads each erasure request erases")  # fmt: skip
    parser.add_argument("--pg-schema", default=PG_SCHEMA, help="the PostgreSQL schema it builds")
    parser.add_argument("--keep", action="store_true", help="keep the stores and the journal")
    parser.add_argument("--json-out", type=resolved_path, help="also write the figures as JSON")
    parser.add_argument("--child", choices=("jobs", "replay"), help=argparse.SUPPRESS)
    parser.add_argument("--journal", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    pg_identifier(parser, "--pg-schema", args.pg_schema)
    if args.leads_per_request < 1 or args.leads < 2:
        parser.error("--leads and --leads-per-request must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    headline = f"replay benchmark: {args.leads:,} leads on {', '.join(args.backends)}"
    prepare_code(args, args.workdir, headline)
    measurements = [measure(backend, args) for backend in args.backends]
    report(measurements, args)
    if args.json_out:
        document = {
            "code": args.code_description,
            "measurements": [{**asdict(m), "ratio": m.ratio, "whole_ratio": m.whole_ratio}
                             for m in measurements],
        }  # fmt: skip
        args.json_out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

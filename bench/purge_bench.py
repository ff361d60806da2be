"""Benchmark of `retention purge` against the floor: throughput, longest batch, peak memory.

Run by hand, never by the test suite (at 1,000,000 leads it takes tens of minutes and writes
several gigabytes under bench/out/). Use the Python of the venv where lead-retention is
installed:

    # 1,000,000 leads (500,000 due), SQLite and PostgreSQL, plus 100,000 for the memory check:
    /work/venv/bin/python bench/purge_bench.py

    # smaller and narrower:
    /work/venv/bin/python bench/purge_bench.py --leads 20000 --backends sqlite --skip-small

    # a batch-size variant (passed to `purge_job`, as `retention purge --batch-size` does):
    /work/venv/bin/python bench/purge_bench.py --backends postgresql --batch-size 2000

    # also profile one PostgreSQL purge of 200,000 leads (100,000 due) with cProfile:
    /work/venv/bin/python bench/purge_bench.py --leads 0 --profile-leads 200000

    # pin the code under test to a commit (the working tree may change under a long run):
    /work/venv/bin/python bench/purge_bench.py --code HEAD

    # a PostgreSQL schema of its own, beside another run in the same database (or give
    # --pg-url another database):
    /work/venv/bin/python bench/purge_bench.py --pg-schema retention_pbench_2

What it does, per backend and size:

1. Builds a fresh store: SQLite, a new file under bench/out/; PostgreSQL, the schema
   `retention_pbench` (--pg-schema) dropped and created again. `retention db upgrade` creates
   the tables, then the leads are bulk-loaded in SQL (INSERT ... SELECT; far faster than
   `retention import`; see bench/purge_data.py): UUID lead ids, ~2 KB JSON payloads
   (metadata, contactRequest with a ~1.4 KB synthetic message, property), synthetic contact
   columns, two subject rows per lead (email, phone). Rows are stored in ingestion order (as
   imports write them), ingestion dates spread over the last 2.5 years (the 3-year ceiling
   rule never applies). Every other lead is due: its TTL lies between its ingestion and an
   hour before the load; the others' TTL is a day to two years after it. VACUUM ANALYZE /
   ANALYZE follow.
2. The floor: in one transaction, `INSERT INTO audit_events ... SELECT ... FROM leads WHERE ttl
   <= :now` (one row per due lead, unique fake hashes) and `DELETE FROM leads WHERE ttl <=
   :now` (subject rows go by ON DELETE CASCADE). PostgreSQL: timed up to the end of the
   DELETE, then rolled back and the tables vacuumed, so the purge sees the same data. SQLite:
   run on a copy of the file under the pragmas the tool's own engine sets (probed from the
   code under test: WAL, synchronous, wal_autocheckpoint, foreign_keys, secure_delete, ...),
   COMMIT included; the WAL checkpoint it leaves behind is timed apart and shown too (the
   purge pays its own automatic checkpoints inside its batches). The copy is then deleted.
3. The purge: what `retention purge --force` runs (the settings, the store's engine and its
   schema check, then `jobs.purge.purge_job`; default batch size unless --batch-size), in a
   child interpreter (`purge_bench.py --child`) that passes `purge_job` a RunObserver
   (bench/recorder.py). The library tells it each batch transaction's wall time
   (`batch_done`: the figure behind `PurgeResult.longest_batch_seconds`) and the batch size in
   effect, the time of the purge proper (phase `work`: `purge_due_leads`, counting and
   batches; the floor's counterpart) and of the residue step (phase `residue`: VACUUM / WAL
   checkpoint), and the run's end (`run_finished`: status, counts, the run's wall time). What
   happens inside a batch (select, delete, audit hashing and insert) is not timed: see it with
   --profile-leads. The child reports its peak RSS (VmHWM of /proc/self/status, read at its
   end). os.wait4's ru_maxrss is shown beside it but is not used: Linux carries the parent's
   resident size over fork + exec into it, and the parent holds hundreds of MB after loading
   a store.
4. Prints a table with the floor and purge throughput, their ratio, the longest, p50 and p90
   batch and the peak RSS against the issue's targets, and the peak RSS at 100,000 and at the
   main size.

The machine may be shared: before each timed phase the benchmark waits (at most
--idle-timeout, alias --wait-idle, 30 minutes by default) until the CPUs are at most
--idle-below (10%) busy, and it reports how busy they were during the phase (one busy core of
two is ~50%; clearly more means something else ran meanwhile). Progress goes to stderr, the
results to stdout.

Targets (from the issue): PostgreSQL purge >= 0.6x the floor's throughput and longest batch
<= 250 ms; SQLite >= 0.7x and <= 500 ms; peak RSS < 150 MB, flat in the number of leads.
The ratio is given on the purge proper (phase `work`: counting, batches) and on the whole
command (engine, run bookkeeping and the residue step included). Nothing here asserts timings.

The PostgreSQL schema and the SQLite files are removed at the end (--keep leaves them).

Beside this script: bench/purge_data.py (the data set, in SQL), bench/purge_store.py (the
stores and the floor), bench/purge_report.py (the figures, the table, the targets); what the
benchmarks share is in bench/harness.py and bench/children.py.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from children import (
    checked,
    print_profile,
    proc_status_mb,
    profiled,
    report_to_parent,
    run_child,
)
from harness import (
    BusyMeter,
    RunTimings,
    add_common_options,
    child_env,
    load_note,
    log,
    pg_identifier,
    prepare_code,
    resolved_path,
    wait_idle,
)
from purge_data import Layout
from purge_report import Measurement, PurgeMeasure, report
from purge_store import PostgresStore, SQLiteStore, Store

HERE = Path(__file__).resolve().parent
DEFAULT_WORKDIR = HERE / "out"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "retention_pbench"
SMALL_LEADS = 100_000


# --- the purge, in a child interpreter --------------------------------------------------------


def child_main(args: argparse.Namespace) -> int:
    """In the child: what `retention purge --force` runs, observed by a Recorder; the figures
    go to the parent with this process's peak RSS."""
    from jobs.purge import purge_job
    from recorder import Recorder
    from retention.config import load_settings
    from retention.storage.engine import check_schema_current, create_store_engine

    baseline = proc_status_mb()
    recorder = Recorder()

    def command() -> float:
        settings = load_settings()
        engine = create_store_engine(settings.database)
        try:
            check_schema_current(engine)
            run = purge_job(
                settings, engine, force=True, batch_size=args.batch_size, observer=recorder
            )
        finally:
            engine.dispose()
        return run.result.longest_batch_seconds if run.result else 0.0

    started = time.perf_counter()
    longest = profiled(Path(args.profile_out), command) if args.profile_out else command()
    seconds = time.perf_counter() - started
    report_to_parent(
        {"timings": asdict(recorder.timings), "command_seconds": seconds,
         "longest_batch_seconds": longest},
        baseline_rss_mb=baseline,
    )  # fmt: skip
    return 0


def run_purge_child(
    store: Store, args: argparse.Namespace, *, profile_out: Path | None = None
) -> PurgeMeasure:
    command = [sys.executable, str(Path(__file__).resolve()), "--child"]
    if args.batch_size:
        command += ["--batch-size", str(args.batch_size)]
    if profile_out is not None:
        command += ["--profile-out", str(profile_out)]
    run = checked(run_child(command, store_env(store, args)), "the purge child")
    imported = str(run.report.get("retention_file"))
    if not imported.startswith(str(args.code_dir)):
        raise RuntimeError(f"the child imported {imported}, not the code in {args.code_dir}")
    measure = PurgeMeasure(
        RunTimings(**run.result["timings"]), run.result["command_seconds"],
        run.result["longest_batch_seconds"], run.wall_seconds, run.cpu_seconds,
        run.pg_cpu_seconds, run.peak_rss_mb, run.report["baseline_rss_mb"],
        run.rusage_maxrss_mb,
    )  # fmt: skip
    if measure.timings.longest != measure.longest_batch_seconds:
        log(
            f"WARNING: the observer's longest batch {measure.timings.longest:.6f} s is not "
            f"PurgeResult.longest_batch_seconds {measure.longest_batch_seconds:.6f} s"
        )
    return measure


# --- one measurement --------------------------------------------------------------------------


def make_store(backend: str, leads: int, args: argparse.Namespace) -> Store:
    if backend == "postgresql":
        return PostgresStore(args.pg_url, args.pg_schema)
    return SQLiteStore(args.workdir, leads)


def store_env(store: Store, args: argparse.Namespace) -> dict[str, str]:
    return child_env(store.url, args.code_dir)


def build(store: Store, leads: int, args: argparse.Namespace) -> tuple[Layout, float]:
    layout = Layout(now=int(time.time()), leads=leads)
    started = time.perf_counter()
    store.reset()
    store.upgrade(store_env(store, args))
    store.load(layout)
    return layout, time.perf_counter() - started


def idle_note(args: argparse.Namespace) -> str:
    busy = wait_idle(args.idle_below, args.idle_timeout)
    return f"CPUs {busy:.0%} busy before the phase, {load_note()}"


def measure(backend: str, leads: int, args: argparse.Namespace) -> Measurement:
    store = make_store(backend, leads, args)
    log(f"{backend}, {leads:,} leads: building the store")
    try:
        layout, load_seconds = build(store, leads, args)
        described = store.describe()
        log(f"{backend}, {leads:,} leads: built in {load_seconds:.0f} s: {described}")
        store.prepare()
        log(f"{backend}, {leads:,} leads: floor ({idle_note(args)})")
        meter = BusyMeter()
        floor = store.floor(layout)
        floor_busy = meter.share()
        log(
            f"{backend}: floor deleted {floor.deleted:,} and wrote {floor.audit_rows:,} audit "
            f"rows in {floor.seconds:.2f} s ({floor.rate:,.0f} rows/s); CPUs {floor_busy:.0%} "
            "busy meanwhile"
        )
        store.prepare()
        log(f"{backend}, {leads:,} leads: purge ({idle_note(args)})")
        meter = BusyMeter()
        purge = run_purge_child(store, args)
        purge_busy = meter.share()
        log(
            f"{backend}: purge {purge.timings.status}: {purge.deleted:,} deleted, "
            f"{purge.purge_seconds:.2f} s ({purge.rate:,.0f} rows/s), command "
            f"{purge.command_seconds:.2f} s; {purge.timings.batches_text('leads')}; peak RSS "
            f"{purge.peak_rss_mb:.1f} MiB; CPUs {purge_busy:.0%} busy meanwhile"
        )
        if purge.timings.status != "succeeded" or purge.deleted != floor.deleted:
            log(f"WARNING: purge {purge.timings.status}, deleted {purge.deleted} vs floor "
                f"{floor.deleted}")  # fmt: skip
    finally:
        if not args.keep:
            store.drop()
    return Measurement(
        backend, leads, floor.deleted, described, load_seconds, floor, purge,
        floor_busy, purge_busy,
    )  # fmt: skip


# --- profile ---------------------------------------------------------------------------------


def profile(args: argparse.Namespace) -> None:
    leads, backend = args.profile_leads, args.profile_backend
    store = make_store(backend, leads, args)
    log(f"profile: {backend}, {leads:,} leads: building the store")
    out = args.workdir / f"purge-bench-{backend}-{leads}.prof"
    try:
        build(store, leads, args)
        store.prepare()
        log(f"profile: purge under cProfile ({idle_note(args)})")
        measured = run_purge_child(store, args, profile_out=out)
        log(
            f"profile: {measured.deleted:,} deleted in {measured.purge_seconds:.2f} s under the "
            f"profiler ({measured.rate:,.0f} rows/s; profile in {out})"
        )
    finally:
        if not args.keep:
            store.drop()
    for order in ("tottime", "cumulative"):
        print_profile(out, order, f"purge of {leads:,} leads on {backend}", 20)


# --- command line ----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_common_options(
        parser, pg_url=DEFAULT_PG_URL, pg_url_help="PostgreSQL server and database",
        workdir=DEFAULT_WORKDIR, workdir_help="the SQLite stores, profiles and --code exports",
        idle_below=0.10, idle_timeout=1800,
    )  # fmt: skip
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads (half of them due)")
    parser.add_argument("--batch-size", type=int, help="the purge's batch size (purge_job)")
    parser.add_argument(
        "--skip-small", action="store_true", help=f"skip the {SMALL_LEADS:,}-lead memory check"
    )
    parser.add_argument("--small-leads", type=int, default=SMALL_LEADS, help=argparse.SUPPRESS)
    parser.add_argument("--pg-schema", default=PG_SCHEMA, help="the PostgreSQL schema it builds")
    # No effect: the per-statement breakdown inside the batches is gone (--profile-leads shows
    # inside a batch); kept so that older invocations still run.
    parser.add_argument("--no-breakdown", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-leads", type=int, default=0, help="also profile a purge")
    parser.add_argument("--profile-backend", default="postgresql", choices=("sqlite", "postgresql"))
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--json-out", type=resolved_path, help="also write the figures as JSON")
    # The child's options (internal).
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    pg_identifier(parser, "--pg-schema", args.pg_schema)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return child_main(args)
    headline = f"purge benchmark: {args.leads:,} leads on {', '.join(args.backends)}"
    prepare_code(args, args.workdir, headline)
    sizes = (
        [args.leads]
        if args.skip_small or args.leads <= args.small_leads
        else [args.small_leads, args.leads]
    )
    if args.leads > 0:
        measurements = [measure(b, size, args) for b in args.backends for size in sizes]
        report(measurements, args)
        if args.json_out:
            document = {
                "code": args.code_description,
                "measurements": [
                    {**asdict(m), "ratio": m.ratio, "command_ratio": m.command_ratio}
                    for m in measurements
                ],
            }
            args.json_out.write_text(json.dumps(document, indent=2), encoding="utf-8")
    if args.profile_leads:
        profile(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

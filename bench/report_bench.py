"""Benchmark of `retention report` on PostgreSQL: a 30-day report of a large store, every format.

The issue's target: with 10,000,000 audit events and 1,000,000 leads on PostgreSQL, a 30-day
report in every format (text, json, csv, html) under 2 s, peak memory flat in the number of
events (compare 1M and 10M). Run by hand, never by the test suite (at 10M events the build
takes tens of minutes and several GB). Use the Python of the venv where lead-retention is
installed:

    # 1,000,000 and 10,000,000 events, 1,000,000 leads each; keep the stores for next time:
    .venv/bin/python bench/report_bench.py --reuse

    # small, in schemas of another prefix, dropped at the end:
    .venv/bin/python bench/report_bench.py --sizes 20000,100000 --leads 20000 \
        --schema-prefix report_smoke --idle-below 1

    # pin the code under test to a commit (the working tree may change under a long run):
    .venv/bin/python bench/report_bench.py --reuse --code HEAD

What it does, per size (number of events):

1. The store, the PostgreSQL schema PREFIX_SIZE (bench/report_store.py): `retention db upgrade`,
   the leads (bench/purge_data.py; all but those due in the last day get a TTL three years
   after their ingestion), then the events (bench/report_data.py: 3 years up to now, mostly
   lead.purged, with erasures, requests, holds and the runs of every job, hash-chained as the
   tool chains them) and the job_runs, erasure_requests and legal_holds rows they speak of, by
   COPY; VACUUM ANALYZE. With --reuse, a schema that already holds the store is used as it is.
2. One full `retention audit verify` (timed): it records the head it found intact, from which
   the report's chain check walks on, as in production, where the report job or an operator
   walks the whole chain now and then.
3. The report of the 30 whole days before the day of the newest event, `retention report
   --since --until --format F --output FILE`, each run a new process (start-up included): one
   warm-up, then --runs timed runs per format; the wall time and peak RSS (VmHWM) of each run.
   The json report is read back: its figures must not be empty (purges, erasures, requests,
   runs in the period) and its chain check must have built on the full walk.
4. Once per size, where one json report's time goes, in a child (--breakdown-child): imports,
   settings and engine (the schema check), building the figures (and each SQL statement it
   ran, the slowest listed), rendering every format.

Then a table: size, format, median / min / max seconds, peak RSS, output size; the RSS ratio of
the largest size to the smallest per format (flat: within 10%), and whether the 2 s target
was met. The machine may be shared: before each series the benchmark waits (at most
--idle-timeout) until the CPUs are at most --idle-below busy. Progress goes to stderr, the
results to stdout. PostgreSQL only (--backends is not used). Each schema is dropped once its
size is measured, unless --keep or --reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from children import checked, proc_status_mb, report_to_parent, retention_argv, run_child
from harness import (
    Column,
    add_common_options,
    child_env,
    emit,
    environment,
    load_note,
    log,
    pg_identifier,
    prepare_code,
    table,
    wait_idle,
)
from report_data import generate
from report_store import ReportStore, log_phases, report_period

HERE = Path(__file__).resolve().parent
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
FORMATS = ("text", "json", "csv", "html")
EXTENSIONS = {"text": "txt", "json": "json", "csv": "csv", "html": "html"}
TARGET_SECONDS = 2.0
FLAT_RATIO = 1.10


@dataclass(slots=True)
class Series:
    size: int
    fmt: str
    seconds: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    output_bytes: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


# --- where the time of one report goes, in a child -------------------------------------------


def breakdown_child(args: argparse.Namespace) -> int:
    """What `retention report --format json` does, step by step, each step timed; every SQL
    statement of building the figures timed too (SQLAlchemy's cursor events)."""
    started = time.perf_counter()
    from sqlalchemy import event

    import retention.cli  # noqa: F401  (what the console script imports first)
    from jobs.registry import JOBS
    from retention import clock
    from retention.cli.dates import SINCE, WHEN
    from retention.config import load_settings
    from retention.reports.formats import RENDERERS
    from retention.services.report import build_report, default_period
    from retention.storage.engine import check_schema_current, create_store_engine

    baseline = proc_status_mb()
    steps: dict[str, float] = {"imports": time.perf_counter() - started}
    lap = time.perf_counter()
    settings = load_settings()
    engine = create_store_engine(settings.database)
    check_schema_current(engine)
    steps["settings, engine, schema check"] = time.perf_counter() - lap
    statements: dict[str, list[float]] = {}
    began: list[float] = []

    def before(*_: Any) -> None:
        began.append(time.perf_counter())

    def after(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        key = " ".join(statement.split())[:100]
        if isinstance(parameters, dict):  # which action or job (facet_counts, last_run_time)
            named = [v for k, v in parameters.items() if k.startswith(("action", "job", "status"))]
            key = f"[{' '.join(map(str, named))}] {key}" if named else key
        statements.setdefault(key, []).append(time.perf_counter() - began.pop())

    now = clock.utcnow()
    period = default_period(
        now, since=SINCE.convert(args.since, None, None), until=WHEN.convert(args.until, None, None)
    )
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    lap = time.perf_counter()
    report = build_report(settings, engine, period, now=now, jobs=tuple(JOBS))
    steps["building the figures"] = time.perf_counter() - lap
    event.remove(engine, "before_cursor_execute", before)
    event.remove(engine, "after_cursor_execute", after)
    for fmt in FORMATS:
        lap = time.perf_counter()
        RENDERERS[fmt](report)
        steps[f"rendering {fmt}"] = time.perf_counter() - lap
    engine.dispose()
    steps["total"] = time.perf_counter() - started
    slowest = sorted(statements.items(), key=lambda item: -sum(item[1]))
    result = {
        "steps": steps,
        "sql_seconds": sum(sum(times) for times in statements.values()),
        "statements": [[key, len(times), sum(times)] for key, times in slowest],
    }
    report_to_parent(result, baseline_rss_mb=baseline)
    return 0


def breakdown(store: ReportStore, period: tuple[str, str], args: argparse.Namespace) -> None:
    command = [sys.executable, str(Path(__file__).resolve()), "--breakdown-child",
               "--since", period[0], "--until", period[1]]  # fmt: skip
    run = checked(run_child(command, child_env(store.url, args.code_dir)), "the breakdown child")
    steps: dict[str, float] = run.result["steps"]
    emit()
    emit(f"--- where one json report's time goes, {store.events:,} events ---")
    rest = run.wall_seconds - steps["total"]
    emit(f"  {'interpreter, bench imports, exit':<40} {rest:7.3f} s")
    for step, seconds in steps.items():
        emit(f"  {step:<40} {seconds:7.3f} s")
    emit(f"  of the figures' time, SQL (execute): {run.result['sql_seconds']:.3f} s in "
         f"{sum(n for _, n, _ in run.result['statements'])} statements; the slowest:")  # fmt: skip
    for statement, count, seconds in run.result["statements"][:6]:
        emit(f"    {seconds:7.3f} s  x{count:<3} {statement}")
    emit(
        f"  peak RSS {run.peak_rss_mb:.1f} MiB (after imports {run.report['baseline_rss_mb']:.1f})"
    )


# --- the runs ---------------------------------------------------------------------------------


def check_json(path: Path, events: int) -> list[str]:
    """What is wrong with the json report's figures (empty, or the chain check not built on
    the full walk)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    figures = {
        "purged.total": document["purged"]["total"],
        "purged.by_rule.ttl": document["purged"]["by_rule"].get("ttl", 0),
        "erased.total": document["erased"]["total"],
        "erasure_requests.received": document["erasure_requests"]["received"],
        "erasure_requests.completed": document["erasure_requests"]["completed"],
        "runs.purge.runs": document["runs"]["purge"]["runs"],
        "runs.erasure.runs": document["runs"]["erasure"]["runs"],
    }
    problems = [f"{name} is 0" for name, value in figures.items() if not value]
    chain = document["audit_chain"]
    if not chain["ok"] or chain["walked_in_full_through"] != events:
        problems.append(f"audit chain: ok {chain['ok']}, walked in full through "
                        f"{chain['walked_in_full_through']} (expected {events})")  # fmt: skip
    log("  json figures: " + ", ".join(f"{name} {value:,}" for name, value in figures.items()))
    return problems


def measure(store: ReportStore, period: tuple[str, str], args: argparse.Namespace) -> list[Series]:
    env = child_env(store.url, args.code_dir)
    measured = []
    for fmt in args.formats:
        busy = wait_idle(args.idle_below, args.idle_timeout)
        log(f"{store.events:,} events, {fmt}: CPUs {busy:.0%} busy before, {load_note()}")
        output = args.workdir / f"report-bench-{store.events}.{EXTENSIONS[fmt]}"
        argv = retention_argv("report", "--since", period[0], "--until", period[1],
                              "--format", fmt, "--output", str(output))  # fmt: skip
        series = Series(store.events, fmt)
        for attempt in range(args.warmup + args.runs):
            run = checked(run_child(argv, env), f"retention report --format {fmt}")
            if attempt >= args.warmup:
                series.seconds.append(run.wall_seconds)
                series.rss_mb.append(run.peak_rss_mb)
        series.output_bytes = output.stat().st_size
        log(f"  median {series.median:.3f} s, peak RSS {max(series.rss_mb):.1f} MiB, output "
            f"{series.output_bytes:,} bytes")  # fmt: skip
        if fmt == "json":
            for problem in check_json(output, store.events):
                log(f"  WARNING: the json report: {problem}")
        measured.append(series)
    return measured


def one_size(size: int, args: argparse.Namespace) -> list[Series]:
    store = ReportStore(args.pg_url, f"{args.schema_prefix}_{size}", size, args.leads)
    env = child_env(store.url, args.code_dir)
    state = store.state() if args.reuse else "absent"
    try:
        if state in ("built", "verified"):
            log(f"{size:,} events: reusing schema {store.schema} ({state})")
        else:
            if state != "absent":
                log(f"{size:,} events: schema {store.schema} {state}: building it again")
            log(f"{size:,} events, {args.leads:,} leads: building schema {store.schema}")
            started = time.perf_counter()
            phases, generated = store.build(env, generate)
            if generated.events != size:
                log(f"WARNING: {generated.events:,} events generated, not {size:,}")
            total = time.perf_counter() - started
            log_phases(f"{size:,} events: built in {total:.0f} s", phases)
            emit(f"build of {size:,} events, {args.leads:,} leads: {total:.1f} s ("
                 + ", ".join(f"{phase} {s:.1f} s" for phase, s in phases.items())
                 + f"); events {phases['events'] / size * 1e5:.1f} s per 100k")  # fmt: skip
        for line in store.describe():
            emit(f"  {line}")
        if state != "verified":
            log(f"{size:,} events: retention audit verify ({load_note()})")
            run, document = store.verify(env)
            emit(f"audit verify of {size:,} events: {run.wall_seconds:.1f} s "
                 f"({size / run.wall_seconds:,.0f} events/s), peak RSS {run.peak_rss_mb:.1f} "
                 f"MiB: ok {document['ok']}")  # fmt: skip
        period = report_period(store.last_day())
        log(f"{size:,} events: reports of {period[0]} .. {period[1]}")
        measured = measure(store, period, args)
        if not args.no_breakdown:
            breakdown(store, period, args)
    finally:
        if not (args.keep or args.reuse):
            store.drop()
    return measured


# --- the results ------------------------------------------------------------------------------


def results(measured: Sequence[Series], args: argparse.Namespace) -> None:
    emit()
    emit(f"--- retention report, 30 days, {args.leads:,} leads; {args.runs} runs after "
         f"{args.warmup} warm-up, each a new process ---")  # fmt: skip
    columns = [Column("events", 11), Column("format", 6, left=True), Column("median s", 8),
               Column("min s", 6), Column("max s", 6), Column("peak RSS MiB", 12),
               Column("output KiB", 10)]  # fmt: skip
    rows = [
        [f"{s.size:,}", s.fmt, f"{s.median:.3f}", f"{min(s.seconds):.3f}", f"{max(s.seconds):.3f}",
         f"{max(s.rss_mb):.1f}", f"{s.output_bytes / 1024:,.1f}"]
        for s in measured
    ]  # fmt: skip
    for line in table(columns, rows):
        emit(line)
    sizes = sorted({s.size for s in measured})
    emit()
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        by = {(s.size, s.fmt): s for s in measured}
        for fmt in args.formats:
            ratio = max(by[large, fmt].rss_mb) / max(by[small, fmt].rss_mb)
            verdict = "flat" if ratio <= FLAT_RATIO else "NOT flat"
            emit(f"peak RSS {large:,} / {small:,} events, {fmt}: {ratio:.3f} ({verdict}: "
                 f"target <= {FLAT_RATIO:.2f})")  # fmt: skip
    slow = [f"{s.size:,} {s.fmt} {s.median:.2f} s" for s in measured if s.median >= TARGET_SECONDS]
    worst = max(measured, key=lambda s: (s.size, s.median))
    verdict = f"NOT MET ({', '.join(slow)})" if slow else "MET"
    emit(f"target: every format under {TARGET_SECONDS:.0f} s: {verdict}; slowest at "
         f"{worst.size:,} events: {worst.fmt} {worst.median:.3f} s")  # fmt: skip


# --- command line -----------------------------------------------------------------------------


def sizes_of(text: str) -> list[int]:
    return [int(v.replace("_", "")) for v in text.split(",") if v.strip()]


def formats_of(text: str) -> list[str]:
    values = [v.strip() for v in text.split(",") if v.strip()]
    if unknown := [v for v in values if v not in FORMATS]:
        raise argparse.ArgumentTypeError(f"unknown format {', '.join(unknown)}")
    return values


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    add_common_options(
        parser, pg_url=DEFAULT_PG_URL, pg_url_help="PostgreSQL server and database",
        workdir=HERE / "out", workdir_help="the reports written and the --code exports",
        idle_below=0.25, idle_timeout=900,
    )  # fmt: skip
    add = parser.add_argument
    add("--sizes", type=sizes_of, default=[1_000_000, 10_000_000], help="events, per store")
    add("--leads", type=int, default=1_000_000, help="leads in every store")
    add("--schema-prefix", default="report_bench", help="the schemas: PREFIX_SIZE")
    add("--formats", type=formats_of, default=list(FORMATS), help="text,json,csv,html")
    add("--runs", type=int, default=5, help="timed runs per format and size")
    add("--warmup", type=int, default=1, help="untimed runs before them")
    add("--reuse", action="store_true", help="use a schema that holds the store; keep them all")
    add("--keep", action="store_true", help="keep the schemas afterwards")
    add("--no-breakdown", action="store_true", help="skip the step-by-step json report")
    add("--breakdown-child", action="store_true", help=argparse.SUPPRESS)
    add("--since", help=argparse.SUPPRESS)
    add("--until", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    pg_identifier(parser, "--schema-prefix", args.schema_prefix)
    if args.runs < 1 or not args.sizes or min(args.sizes) < 10_000:
        parser.error("--runs must be at least 1 and every size at least 10,000 events")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.breakdown_child:  # ends as the CLI does, with os._exit (no interpreter teardown)
        code = breakdown_child(args)
        sys.stdout.flush()
        os._exit(code)
    sizes = ", ".join(f"{size:,}" for size in args.sizes)
    prepare_code(args, args.workdir, f"report benchmark: {sizes} events, {args.leads:,} leads")
    for line in environment(args.pg_url):
        emit(line)
    emit(f"code under test: {args.code_description}")
    measured = [series for size in args.sizes for series in one_size(size, args)]
    results(measured, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

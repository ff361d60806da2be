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

Run it on a quiet machine: each timed run first waits until the CPUs are idle (--idle-below,
--idle-timeout), and the table's last column shows how busy they were just before it.

What it does:

1. Generates synthetic leads (bench/synthetic.py: fake names, example.com emails, +3360000xxxx
   phones; about 1.7 KB of compact JSON each, mixed categories and portals, TTL in the
   future), streamed to files as JSON Lines, a pretty-printed JSON array and a pretty-printed
   paginatedResultSet page.
2. For each backend and format: a fresh store (a new SQLite file; PostgreSQL: the schema
   `retention_bench` (--pg-schema) dropped and created again), `retention db upgrade`, then
   `retention import FILE --json` in a child process (the CLI's main, run by
   bench/children.py as the console script runs it). The child's wall time, CPU time (os.wait4
   rusage of that pid) and own peak RSS (VmHWM, which the child reports at its end) are
   recorded. For JSON Lines the same file is then imported a second time into the same store:
   "re-import (updates)".
3. Prints a summary table (wall time, leads/s, peak RSS, CPU of the client, of PostgreSQL and of
   anything else, flagging runs disturbed by other processes) and the ratio of the PostgreSQL
   JSON Lines throughput to the 10,000 leads/s target. Progress goes to stderr, the results to
   stdout.

The PostgreSQL schema is dropped at the end. Nothing here asserts timings. The leads and their
files come from bench/synthetic.py; what the benchmarks share is in bench/harness.py and
bench/children.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import resource
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from children import ChildRun, checked, print_profile, retention_argv, run_child
from harness import (
    Column,
    add_common_options,
    child_env,
    code_under_test,
    csv_of,
    describe_code,
    emit,
    environment,
    log,
    pg_identifier,
    pg_url_with_schema,
    remove_sqlite_store,
    reset_pg_schema,
    resolved_path,
    table,
    wait_idle,
)
from synthetic import FORMATS, SEED, generate, lead_file

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_PG_SCHEMA = "retention_bench"
TARGET_LEADS_PER_SECOND = 10_000
PEAK_MEMORY_COUNTS = (100_000, 1_000_000)
# A run during which other processes used more CPU than this fraction of its wall time is
# flagged as unreliable.
NOISY_OTHER_FRACTION = 0.10
NOISY_OTHER_MIN_SECONDS = 2.0

# --- the imports -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Row:
    """One import measured: which backend, form and size, and what it cost."""

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


@dataclass(slots=True)
class Stores:
    args: argparse.Namespace
    workdir: Path
    code: Path

    def env(self, url: str) -> dict[str, str]:
        size = self.args.batch_size
        extra = {} if size is None else {"RETENTION_IMPORT_BATCH_SIZE": str(size)}
        return child_env(url, self.code, extra)

    def fresh(self, backend: str, tag: str) -> str:
        """A new, empty store at the current schema revision; returns its URL."""
        if backend == "sqlite":
            path = self.workdir / f"store-{tag}.db"
            remove_sqlite_store(path)
            url = f"sqlite:///{path}"
        else:
            reset_pg_schema(self.args.pg_url, self.args.pg_schema)
            url = pg_url_with_schema(self.args.pg_url, self.args.pg_schema, self.args.pg_setting)
        checked(
            run_child(retention_argv("db", "upgrade"), self.env(url)), f"db upgrade ({backend})"
        )
        return url

    def discard(self, backend: str, tag: str) -> None:
        if backend == "sqlite":
            remove_sqlite_store(self.workdir / f"store-{tag}.db")

    def import_once(self, url: str, backend: str, form: str, path: Path, count: int,
                    label: str) -> Row:  # fmt: skip
        busy_before = wait_idle(self.args.idle_below, self.args.idle_timeout)
        run = checked(
            run_child(retention_argv("import", str(path), "--json"), self.env(url)),
            f"import of {path.name} ({backend})",
        )
        result = json.loads(run.stdout)
        if result["rejected"] or result["imported"] + result["updated"] != count:
            raise SystemExit(f"unexpected import result for {path.name} ({backend}): {result}")
        row = Row(
            backend, form, count, label, path.stat().st_size / 1e6, busy_before, run,
            result["imported"], result["updated"],
        )  # fmt: skip
        rate = f"{row.leads_per_second:>9,.0f} leads/s" if count else " " * 17
        log(
            f"{backend:<10} {form:<5} {count:>9,} {label:<20} {run.wall_seconds:8.1f} s "
            f"{rate}  peak RSS {run.peak_rss_mb:,.0f} MB"
        )
        return row

    def bench_import(
        self, backend: str, form: str, path: Path, count: int, *, reimport: bool
    ) -> list[Row]:
        """Import `path` into a fresh store (and again, with `reimport`), --repeat times;
        keep the fastest run of each kind."""
        tag = f"{form}-{count}"
        label = "import (new leads)" if count else "start-up (empty array)"
        best: dict[str, Row] = {}
        for _ in range(self.args.repeat):
            url = self.fresh(backend, tag)
            rows = [self.import_once(url, backend, form, path, count, label)]
            if reimport:
                rows.append(self.import_once(url, backend, form, path, count,
                                             "re-import (updates)"))  # fmt: skip
            self.discard(backend, tag)
            for row in rows:
                if row.label not in best or row.run.wall_seconds < best[row.label].run.wall_seconds:
                    best[row.label] = row
        return list(best.values())

    def profile_import(self, backend: str, path: Path, count: int, out: Path) -> None:
        url = self.fresh(backend, f"profile-{count}")
        wait_idle(self.args.idle_below, self.args.idle_timeout)
        run = checked(
            run_child(retention_argv("import", str(path), "--json", profile=out), self.env(url)),
            f"profiled import ({backend})",
        )
        self.discard(backend, f"profile-{count}")
        emit()
        emit(
            f"cProfile of `retention import` of {count:,} JSON Lines leads on {backend}: "
            f"{run.wall_seconds:.1f} s wall, {run.cpu_seconds:.1f} s child CPU under the "
            f"profiler ({out}, {out}.main, {out}.threads)"
        )
        emit("(the CLI and wrapper frames are left out of the lists)")
        print_profile(Path(f"{out}.main"), "cumulative", "main thread (read, validate, hash)")
        print_profile(Path(f"{out}.threads"), "cumulative", "other threads (the batch writer)")
        print_profile(out, "tottime", "all threads")


# --- reporting -------------------------------------------------------------------------------

COLUMNS = (
    Column("backend", 10, left=True), Column("format", 6, left=True), Column("leads", 9),
    Column("run", 21, left=True), Column("input MB", 9), Column("wall s", 7),
    Column("leads/s", 8), Column("peak RSS MB", 11), Column("client CPU s", 12),
    Column("PG CPU s", 8), Column("other CPU s", 11), Column("busy before", 11),
)  # fmt: skip


def print_table(rows: Sequence[Row]) -> None:
    for line in table(COLUMNS, (
        [row.backend, row.form, f"{row.leads:,}", row.label, f"{row.input_mb:,.0f}",
         f"{row.run.wall_seconds:.1f}", f"{row.leads_per_second:,.0f}" if row.leads else "-",
         f"{row.run.peak_rss_mb:,.0f}", f"{row.run.cpu_seconds:.1f}",
         f"{row.run.pg_cpu_seconds:.1f}", f"{row.run.other_cpu_seconds:.1f}",
         f"{row.busy_before:.0%}" + ("  (!)" if row.noisy else "")]
        for row in rows
    )):  # fmt: skip
        emit(line)
    if any(row.noisy for row in rows):
        emit(
            "(!) other processes used the CPUs during this run (other CPU > "
            f"{NOISY_OTHER_FRACTION:.0%} of the wall time and > {NOISY_OTHER_MIN_SECONDS:.0f} s): "
            "its time is not reliable"
        )


def print_environment(args: argparse.Namespace, mean_bytes: float, code: str) -> None:
    emit("environment:")
    emit(f"  code under test: {code}")
    uses_pg = "postgresql" in args.backends or args.profile_leads
    for line in environment(args.pg_url if uses_pg else None):
        emit(f"  {line}")
    emit(f"  import.batch_size {args.batch_size or 'default (config)'}")
    if args.pg_setting:
        emit(f"  PostgreSQL session settings: {', '.join(args.pg_setting)}")
    if args.repeat > 1:
        emit(f"  each figure: the fastest of {args.repeat} runs")
    if mean_bytes:
        emit(f"  mean lead size {mean_bytes:,.0f} bytes of compact JSON")
    emit("  wall time includes the child's start-up (Python, SQLAlchemy, schema check)")
    emit("  peak RSS MB: VmHWM of the `retention import` process, reported at its end")
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


def print_peak_memory(args: argparse.Namespace, peak_rows: Sequence[Row]) -> None:
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


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark `retention import` throughput and peak memory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_common_options(
        parser, pg_url=DEFAULT_PG_URL, pg_url_help="PostgreSQL server (no schema)",
        workdir=None, workdir_help="keep generated files and stores here and reuse the files "
        "on the next run (e.g. bench/out, git-ignored); default: a temporary folder removed at "
        "the end", idle_below=0.15, idle_timeout=900.0,
    )  # fmt: skip
    parser.add_argument("--leads", type=int, default=200_000, help="leads per file (0: skip)")
    parser.add_argument("--formats", type=csv_of(FORMATS), default=list(FORMATS))
    parser.add_argument(
        "--peak-memory-million", action="store_true",
        help="also import 100,000 and 1,000,000 leads (JSON Lines unless --peak-memory-formats) "
        "and compare peak RSS",
    )  # fmt: skip
    parser.add_argument(
        "--peak-memory-formats", type=csv_of(FORMATS), default=["jsonl"],
        help="formats of the --peak-memory-million runs",
    )  # fmt: skip
    parser.add_argument(
        "--peak-memory-backend", choices=("sqlite", "postgresql"), default="sqlite",
        help="backend of the --peak-memory-million runs",
    )  # fmt: skip
    parser.add_argument(
        "--profile-leads", type=int, default=0, metavar="N",
        help="also profile one JSON Lines import of N leads with cProfile (0: no)",
    )  # fmt: skip
    parser.add_argument("--profile-backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--profile-out", type=resolved_path, default=Path("/tmp/imp.prof"))
    parser.add_argument("--no-reimport", action="store_true", help="skip the re-import runs")
    parser.add_argument("--batch-size", type=int, help="RETENTION_IMPORT_BATCH_SIZE for the child")
    parser.add_argument("--pg-schema", default=DEFAULT_PG_SCHEMA)
    parser.add_argument(
        "--pg-setting", action="append", default=[], metavar="NAME=VALUE",
        help="a server setting for the children's PostgreSQL sessions, e.g. "
        "default_toast_compression=lz4 (repeatable; for experiments)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="K",
        help="run each measurement K times (fresh store each time) and keep the fastest",
    )  # fmt: skip
    args = parser.parse_args(argv)
    pg_identifier(parser, "--pg-schema", args.pg_schema)
    if any(not re.fullmatch(r"[a-z_.]+=[\w.-]+", setting) for setting in args.pg_setting):
        parser.error("--pg-setting takes NAME=VALUE, e.g. default_toast_compression=lz4")
    if args.leads < 0 or args.profile_leads < 0 or args.repeat < 1:
        parser.error("counts must not be negative")
    return args


def run_benchmark(args: argparse.Namespace, workdir: Path) -> None:
    now = datetime.now(UTC)
    code = code_under_test(args.code, workdir)
    code_description = describe_code(code, args.code)
    log(f"code under test: {code_description}")
    stores = Stores(args, workdir, code)
    rows: list[Row] = []
    mean_bytes = 0.0

    if args.leads:
        mean_bytes = generate(workdir, args.leads, args.seed, args.formats, now)
        empty = workdir / "empty.json"
        empty.write_text("[]\n", encoding="utf-8")  # an empty file is refused (exit 2)
        for backend in args.backends:
            # The fixed cost of one run (interpreter, imports, connection, schema check).
            rows += stores.bench_import(backend, "empty", empty, 0, reimport=False)
            for form in args.formats:
                path = lead_file(workdir, args.leads, args.seed, form)
                reimport = form == "jsonl" and not args.no_reimport
                rows += stores.bench_import(backend, form, path, args.leads, reimport=reimport)

    peak_rows: list[Row] = []
    if args.peak_memory_million:
        for count in PEAK_MEMORY_COUNTS:
            forms = args.peak_memory_formats
            mean_bytes = generate(workdir, count, args.seed, forms, now) or mean_bytes
            for form in forms:
                path = lead_file(workdir, count, args.seed, form)
                peak_rows += stores.bench_import(
                    args.peak_memory_backend, form, path, count, reimport=False
                )
                if not args.workdir and count == PEAK_MEMORY_COUNTS[-1]:
                    path.unlink()  # 1.6-2.4 GB: do not keep it in the temp folder

    if args.profile_leads:
        generate(workdir, args.profile_leads, args.seed, ["jsonl"], now)
        path = lead_file(workdir, args.profile_leads, args.seed, "jsonl")
        stores.profile_import(args.profile_backend, path, args.profile_leads, args.profile_out)

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
        print_peak_memory(args, peak_rows)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    emit()
    emit(f"benchmark process (generator) peak RSS: {own:,.0f} MB")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else list(argv))
    uses_pg = "postgresql" in args.backends and args.leads
    uses_pg = uses_pg or (args.peak_memory_million and args.peak_memory_backend == "postgresql")
    uses_pg = uses_pg or (args.profile_leads and args.profile_backend == "postgresql")
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        context: Any = contextlib.nullcontext(str(args.workdir))
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

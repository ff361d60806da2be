"""Benchmark of the erasure: the erasure job against the raw floor, and one `retention erase`.

Run by hand, never by the test suite (it builds stores of a million leads):

    /work/venv/bin/python bench/erasure_bench.py                      # both backends
    /work/venv/bin/python bench/erasure_bench.py --backends sqlite --leads 100000
    # PostgreSQL job timed with 1 and with 2 workers, on the store of an earlier --keep run:
    /work/venv/bin/python bench/erasure_bench.py --backends postgresql --workers 1,2 \
        --workdir /tmp/ebench --keep --reuse
    # pin the code under test to a commit; databases of its own (beside another run):
    /work/venv/bin/python bench/erasure_bench.py --code HEAD --pg-prefix erasure_bench_2

What it does, per backend:

1. Builds a store of `--leads` synthetic leads (default 1,000,000; bench/synthetic.py, ~1.7 KB
   of JSON each, a mobile and a landline number each) through the real import, with
   `--requests` seekers (default 10,000) owning 3 leads each, spread over the store, and 20
   more such seekers for the single-erase timing. Queues one erasure request per seeker (a
   CSV file through the real `requests import`). Each measurement runs on a copy of that
   store (SQLite: the file; PostgreSQL: CREATE DATABASE ... TEMPLATE, the databases named
   `erasure_bench_template`, `_floor` and `_job`, after --pg-prefix).
2. Floor, on the first copy: one set-based UPDATE of the same rows, columns and JSON (the
   policy's columns null, phone_numbers and payload.contactRequest.phoneNumbers [], the
   policy's payload fields null, erased_at set), given the lead ids, and its commit. Then,
   on a fresh copy, the same UPDATE plus one DELETE of those leads' `lead_subjects` rows in
   the same transaction ("floor+hashes"): the job drops an erased lead's subject hashes too,
   and this shows what that costs. The target's ratio is against the first floor.
3. Job, on another copy (a fresh one for each run; by default the config's
   `erasure.workers`, 2 on PostgreSQL): `jobs.erasure.erasure_job` (what `retention run
   erasure` runs), in this process, with a RunObserver (bench/recorder.py). The library tells
   it the time of phase `work` (`process_requests`: every request, its leads found through the
   subject hashes, held leads checked, the leads erased, read back and verified, one audit
   event per lead and per request), then of phase `residue` (SQLite WAL checkpoint,
   PostgreSQL VACUUM of the changed tables), timed apart, and each batch transaction's wall
   time (`batch_done`: longest, p50, p90). The ratio is floor seconds / work seconds (the
   target: at least 0.5). The floors and each job are timed `--repeat` times (default 3),
   each on a fresh copy: the table shows the median floors and the job run of median time
   (its residue, rows/s, counts), the lines under it the ranges (median_low when the count
   is even) and that run's batches.
4. Single erase: `retention erase --email` of a seeker with 3 leads, as a new process each time
   (interpreter start included; the CLI's main run by bench/children.py), 7 times on the
   job's store; min, median and max wall time (the target: under 0.5 s).

Before each timed floor and job it waits until the CPUs are idle (--idle-below,
--idle-timeout). Progress goes to stderr, the results to stdout. Nothing here asserts
timings. Stores are removed at the end unless --keep. The stores, their build and the floor
are in bench/erasure_store.py; what the benchmarks share in bench/harness.py and
bench/children.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from children import checked, retention_argv, run_child
from erasure_store import (
    SPREAD,
    Backend,
    PostgresBackend,
    SQLiteBackend,
    build,
    floor,
    settings_for,
)
from harness import (
    BusyMeter,
    Column,
    RunTimings,
    add_common_options,
    child_env,
    emit,
    environment,
    log,
    pg_identifier,
    prepare_code,
    table,
    use_code,
    wait_idle,
)

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PG_PREFIX = "erasure_bench"
LATENCY_RUNS = 7


@dataclass(slots=True)
class JobMeasure:
    timings: RunTimings  # what the job's RunObserver was told
    requests: int
    completed: int
    failed: int
    leads_erased: int
    workers: int
    cpu_busy: float  # share of all CPUs busy during the run

    @property
    def seconds(self) -> float:  # phase work: process_requests
        return self.timings.phases.get("work", 0.0)

    @property
    def residue_seconds(self) -> float:
        return self.timings.phases.get("residue", 0.0)


def job(backend: Backend, workers: int | None) -> JobMeasure:
    from jobs.erasure import erasure_job
    from recorder import Recorder
    from retention.storage.dialect import concurrent_workers
    from retention.storage.engine import create_store_engine

    settings = settings_for(backend.url("job"), workers)
    engine = create_store_engine(settings.database)
    recorder = Recorder()
    meter = BusyMeter()
    run = erasure_job(settings, engine, observer=recorder)
    busy = meter.share()
    engine.dispose()
    result = run.result
    if result is None:
        raise SystemExit(f"the erasure job ended {run.outcome.status}: {run.outcome.error}")
    return JobMeasure(
        recorder.timings, result.requests, result.completed, result.failed, result.leads_erased,
        concurrent_workers(engine, settings.erasure.workers), busy,
    )  # fmt: skip


def single_erase(backend: Backend, code: Path) -> list[float]:
    env = child_env(backend.url("job"), code)
    times = []
    for subject in range(LATENCY_RUNS):
        email = f"Latency.Seeker.{subject}@example.com"
        run = checked(
            run_child(retention_argv("-q", "erase", "--json", "--email", email), env),
            "single erase",
        )
        times.append(run.wall_seconds)
        if '"leads_erased": 3' not in run.stdout:
            raise SystemExit(f"single erase failed: {run.stdout} {run.stderr}")
    return times


@dataclass(slots=True)
class Row:
    """One backend and number of workers: the floors, the jobs, the single erases."""

    backend: str
    floors: list[float]
    unlinks: list[float]  # floor+hashes
    floor_rows: int
    jobs: list[JobMeasure]
    latencies: list[float] = field(default_factory=list)

    @property
    def job(self) -> JobMeasure:
        """The run of median time (the lower one of two middle runs, as median_low)."""
        return sorted(self.jobs, key=lambda j: j.seconds)[(len(self.jobs) - 1) // 2]

    @property
    def floor_seconds(self) -> float:
        return statistics.median_low(self.floors)

    @property
    def unlink_seconds(self) -> float:
        return statistics.median_low(self.unlinks)


def timed_floors(backend: Backend, args: argparse.Namespace, now: datetime) -> Row:
    floors: list[float] = []
    unlinks: list[float] = []
    floor_rows = 0
    for _ in range(args.repeat):  # each on a fresh copy
        for unlink in (False, True):
            backend.copy("template", "floor")
            backend.quiesce("floor")
            wait_idle(args.idle_below, args.idle_timeout)
            seconds, floor_rows = floor(backend, now, unlink=unlink)
            (unlinks if unlink else floors).append(seconds)
            what = "floor with the subject hash delete" if unlink else "floor"
            log(f"{backend.name}: {what}: {floor_rows:,} rows in {seconds:.2f} s")
    return Row(backend.name, floors, unlinks, floor_rows, [])


def timed_jobs(backend: Backend, args: argparse.Namespace, floors: Row, workers: int | None) -> Row:
    row = dataclasses.replace(floors, jobs=[])
    for _ in range(args.repeat):
        backend.copy("template", "job")  # a fresh copy for each job run
        backend.quiesce("job")
        wait_idle(args.idle_below, args.idle_timeout)
        row.jobs.append(job(backend, workers))
        last = row.jobs[-1]
        log(
            f"{backend.name}: job {last.timings.status}: {last.leads_erased:,} leads erased, "
            f"work {last.seconds:.2f} s, residue {last.residue_seconds:.2f} s, "
            f"{last.workers} worker(s); {last.timings.batches_text('requests')}"
        )
    return row


def run_backend(backend: Backend, args: argparse.Namespace) -> list[Row]:
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        if args.reuse:
            log(f"{backend.name}: reusing the store built by an earlier --keep run")
        else:
            build_seconds = build(backend, args, now)
            log(f"{backend.name}: store built in {build_seconds:.0f} s; copying")
        floors = timed_floors(backend, args, now)
        rows = [timed_jobs(backend, args, floors, workers) for workers in args.workers or [None]]
        latencies = single_erase(backend, args.code_dir)  # on the last job's store
    finally:
        if not args.keep:
            for copy in ("template", "floor", "job"):
                backend.drop(copy)
    for row in rows:
        row.latencies = latencies
    return rows


REPORT_COLUMNS = (
    Column("backend", 11, left=True), Column("workers", 7), Column("floor s", 8),
    Column("job s", 8), Column("ratio", 6), Column("residue s", 10), Column("rows/s job", 11),
    Column("erase min/med/max s", 22), Column("floor+hashes s", 15), Column("ratio+h", 7),
)  # fmt: skip


def _cells(row: Row) -> list[str]:
    j, lat = row.job, row.latencies
    return [
        row.backend, str(j.workers), f"{row.floor_seconds:.2f}", f"{j.seconds:.2f}",
        f"{row.floor_seconds / j.seconds if j.seconds else 0.0:.2f}",
        f"{j.residue_seconds:.2f}", f"{j.leads_erased / j.seconds if j.seconds else 0.0:,.0f}",
        f"{min(lat):.3f}/{statistics.median(lat):.3f}/{max(lat):.3f}",
        f"{row.unlink_seconds:.2f}", f"{row.unlink_seconds / j.seconds if j.seconds else 0.0:.2f}",
    ]  # fmt: skip


def report(rows: Sequence[Row], args: argparse.Namespace) -> None:
    emit()
    emit(
        f"erasure benchmark: {args.leads:,} leads, {args.requests:,} requests of 3 leads; "
        f"code under test: {args.code_description}"
    )
    for line in environment(args.pg_url if "postgresql" in args.backends else None):
        emit(line)
    for line in table(REPORT_COLUMNS, (_cells(row) for row in rows)):
        emit(line)
    for row in rows:
        j, t = row.job, row.job.timings
        ratio = row.floor_seconds / j.seconds if j.seconds else 0.0
        erase = statistics.median(row.latencies)
        emit(
            f"  {row.backend}: {j.requests:,} requests, {j.completed:,} completed, {j.failed} "
            f"failed, {j.leads_erased:,} leads erased (floor updated {row.floor_rows:,}); "
            f"ranges of {args.repeat} runs: floor {min(row.floors):.2f} to "
            f"{max(row.floors):.2f} s, floor+hashes {min(row.unlinks):.2f} to "
            f"{max(row.unlinks):.2f} s, job {min(x.seconds for x in row.jobs):.2f} to "
            f"{max(x.seconds for x in row.jobs):.2f} s; ratio target 0.5: "
            f"{'met' if ratio >= 0.5 else 'MISSED'}; single erase target 0.5 s: "
            f"{'met' if erase < 0.5 else 'MISSED'} (median)"
        )
        emit(
            f"    that job: {t.status}, {t.batches_text('requests')}; residue "
            f"{t.counts.get('residue')}; run {t.run_seconds:.2f} s; CPUs {j.cpu_busy:.0%} busy "
            "meanwhile"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_options(
        parser, pg_url=DEFAULT_PG, pg_url_help="an admin URL (CREATE DATABASE)", workdir=None,
        workdir_help="the SQLite stores and --code exports (default: a temporary folder)",
        idle_below=0.15, idle_timeout=900.0,
    )  # fmt: skip
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument(
        "--pg-prefix", default=PG_PREFIX,
        help="names of the PostgreSQL databases it creates: PREFIX_template, _floor, _job",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the stores")
    parser.add_argument(
        "--workers", type=lambda text: [int(n) for n in text.split(",")], default=None,
        help="erasure.workers of the job, e.g. 1,2 to time the job once with each on a fresh "
        "copy (default: the config's; SQLite always runs 1)",
    )  # fmt: skip
    parser.add_argument(
        "--repeat", type=int, default=3,
        help="floors and jobs timed this many times, each on a fresh copy; the table shows "
        "medians and the range (default 3)",
    )  # fmt: skip
    parser.add_argument(
        "--reuse", action="store_true",
        help="reuse the template store of an earlier --keep run (same --workdir, --leads, "
        "--requests) instead of building it again",
    )  # fmt: skip
    args = parser.parse_args(argv)
    pg_identifier(parser, "--pg-prefix", args.pg_prefix)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.leads < args.requests * 3 * SPREAD:
        parser.error(f"--leads must be at least {args.requests * 3 * SPREAD} for --requests")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="erasure-bench-"))
    prepare_code(args, workdir)
    use_code(args.code_dir)  # before the library is first imported
    rows = []
    for name in args.backends:
        backend: Backend = (SQLiteBackend if name == "sqlite" else PostgresBackend)(args, workdir)
        rows += run_backend(backend, args)
    report(rows, args)
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

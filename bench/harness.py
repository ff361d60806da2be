"""What the benchmarks share (bench/purge_bench.py, import_bench.py, erasure_bench.py).

- The code under test: `--code REV` extracts that commit with git archive into the work folder
  (`code_under_test`), so that a long run measures one revision while the working tree
  changes; without it, this checkout's working tree. The folder goes first on the children's
  PYTHONPATH (`child_env`), or on this process's sys.path (`use_code`) for a benchmark that
  runs the library in-process. `describe_code` says which `retention` is imported, at which
  revision.
- A quiet machine: `wait_idle` waits (up to a timeout) until the CPUs are idle before a timed
  phase; `BusyMeter` says how busy they were during it (two busy cores of two: 100%).
- `RunTimings`: what a run's RunObserver was told (bench/recorder.py fills it in the process
  of the run): each batch's transaction time and the batch size, the phases (work, residue),
  the run's status, counts and wall time.
- Stores: the dummy subject key, PostgreSQL URLs with a schema and settings, autocommit
  statements, schema reset; SQLite files checkpointed before a timed phase, and removed with
  their WAL, key and lock files.
- The command line: `add_common_options` (--backends, --pg-url, --workdir, --code,
  --idle-below, --idle-timeout alias --wait-idle), `csv_of`, `resolved_path`,
  `pg_identifier`.
- Output: `log` (progress, stderr, timestamped), `emit` (results, stdout), `table`,
  `percentile`, `environment`.

Child interpreters (run one, collect its report, the `retention` CLI as a child, profiles) are
in bench/children.py, the synthetic leads in bench/synthetic.py. Nothing here imports the
library at module level: a benchmark chooses the code under test first.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BACKENDS = ("sqlite", "postgresql")
# A dummy 40-character subject key: the benchmarks' stores hold synthetic data only.
DUMMY_SUBJECT_KEY = "bench-dummy-subject-key-0000000000000000"
MB = 1024 * 1024
CPUS = os.cpu_count() or 1

# --- output ----------------------------------------------------------------------------------


def log(message: str) -> None:
    sys.stderr.write(f"[bench {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def emit(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@dataclass(frozen=True, slots=True)
class Column:
    title: str
    width: int
    left: bool = False  # left-aligned (names) rather than right-aligned (figures)


def table(columns: Sequence[Column], rows: Iterable[Sequence[str]]) -> list[str]:
    """A header, a rule and one line per row of already formatted cells."""

    def line(cells: Sequence[str]) -> str:
        return " ".join(
            f"{cell:<{c.width}}" if c.left else f"{cell:>{c.width}}"
            for c, cell in zip(columns, cells, strict=True)
        ).rstrip()

    header = line([c.title for c in columns])
    return [header, "-" * len(header), *(line(row) for row in rows)]


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def environment(pg_url: str | None) -> list[str]:
    import sqlite3

    lines = [f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, cpus {CPUS}"]
    if pg_url:
        try:
            lines.append(f"PostgreSQL server {pg_server_version(pg_url)}")
        except Exception as exc:  # the figures still stand without it
            lines.append(f"PostgreSQL server version unknown ({type(exc).__name__})")
    return lines


@dataclass(slots=True)
class RunTimings:
    """What a run's observer was told, as JSON can carry it (bench/recorder.py)."""

    batch_seconds: list[float] = field(default_factory=list)  # BatchStats.seconds
    batch_size: int = 0  # BatchStats.size: the batch size in effect
    phases: dict[str, float] = field(default_factory=dict)  # work, residue
    status: str = ""
    counts: dict[str, Any] = field(default_factory=dict)
    run_seconds: float = 0.0  # run_finished: lock, run rows and events, phases, head

    @property
    def longest(self) -> float:
        return max(self.batch_seconds, default=0.0)

    def batches_text(self, unit: str) -> str:
        """E.g. `13 batches of 800 leads: longest 165 ms, p50 50 ms, p90 162 ms, first 59 ms`."""
        ms = [percentile(self.batch_seconds, s) * 1000 for s in (0.5, 0.9)]
        first = self.batch_seconds[0] * 1000 if self.batch_seconds else 0.0
        return (
            f"{len(self.batch_seconds)} batches of {self.batch_size} {unit}: longest "
            f"{self.longest * 1000:.0f} ms, p50 {ms[0]:.0f} ms, p90 {ms[1]:.0f} ms, "
            f"first {first:.0f} ms"
        )


# --- a quiet machine -------------------------------------------------------------------------


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs have spent busy since boot (/proc/stat); 0.0 where unavailable."""
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            values = [int(v) for v in handle.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK")


class BusyMeter:
    """The machine's busy CPU time from this object's creation on."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.busy = machine_busy_seconds()

    def seconds(self) -> float:
        return machine_busy_seconds() - self.busy

    def share(self) -> float:
        """Busy share of all CPUs (one busy core of two: 50%)."""
        return self.seconds() / max((time.monotonic() - self.started) * CPUS, 1e-9)


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def wait_idle(max_busy: float, timeout: float) -> float:
    """Wait (up to `timeout` s) until the CPUs are at most `max_busy` busy over 2 s, so that a
    timed phase does not share them; return the busy share last seen."""
    deadline = time.monotonic() + timeout
    said = False
    while True:
        meter = BusyMeter()
        time.sleep(2.0)
        busy = meter.share()
        if busy <= max_busy:
            return busy
        if time.monotonic() >= deadline:
            log(f"machine still {busy:.0%} busy after {timeout:.0f} s: measuring anyway")
            return busy
        if not said:
            log(f"machine {busy:.0%} busy: waiting up to {timeout:.0f} s for it to idle")
            said = True
        time.sleep(3.0)


# --- the code under test ---------------------------------------------------------------------


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def code_under_test(ref: str | None, workdir: Path) -> Path:
    """The folder the library is imported from: this checkout, or (`ref`) the tree of that
    commit extracted with git archive into `workdir`."""
    if ref is None:
        return REPO
    sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    folder = workdir / f"code-{sha[:12]}"
    if not folder.exists():
        partial = folder.with_name(f"{folder.name}.{os.getpid()}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
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


def prepare_code(args: argparse.Namespace, workdir: Path, headline: str | None = None) -> None:
    """Set `args.code_dir` and `args.code_description` (the code under test, from `--code`),
    and log the benchmark's headline, if any, and which code it times."""
    workdir.mkdir(parents=True, exist_ok=True)
    args.code_dir = code_under_test(args.code, workdir)
    args.code_description = describe_code(args.code_dir, args.code)
    if headline is not None:
        log(f"{headline} ({load_note()})")
    log(f"code under test: {args.code_description}")


def use_code(code: Path) -> None:
    """Import the library from `code` in this process (call before importing it)."""
    sys.path.insert(0, str(code))
    import retention

    if not str(retention.__file__).startswith(str(code)):
        raise SystemExit(f"imported {retention.__file__}, not the code in {code}")


def child_env(
    database_url: str, code: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A child's environment: of the RETENTION_* variables only the store's URL, the dummy
    subject key and `extra`; the library imported from `code` (PYTHONPATH is searched before
    an editable install's finder)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    env.update(RETENTION_DATABASE_URL=database_url, RETENTION_SUBJECT_KEY=DUMMY_SUBJECT_KEY)
    env.update(extra or {})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(code), env.get("PYTHONPATH")]))
    return env


def run_probe(source: str, env: Mapping[str, str]) -> str:
    """The last line a short Python program printed, run in a child."""
    done = subprocess.run(
        [sys.executable, "-c", source], env=env, cwd=tempfile.gettempdir(),
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def describe_code(code: Path, ref: str | None) -> str:
    """Which `retention` the children import, and at which revision."""
    probe = run_probe("import retention; print(retention.__file__)", child_env("sqlite://", code))
    try:
        if ref is not None:
            revision = f"commit {git('rev-parse', '--short=12', f'{ref}^{{commit}}')} ({ref})"
        else:
            head = git("rev-parse", "--short=12", "HEAD")
            dirty = git("status", "--porcelain", "--", "retention", "jobs", "config")
            revision = f"working tree at {head}" + (
                " WITH UNCOMMITTED CHANGES (use --code REF to pin a commit)" if dirty else ""
            )
    except (OSError, subprocess.CalledProcessError):
        revision = "unknown revision (not a git checkout?)"
    return f"{probe}: {revision}"


# --- stores ----------------------------------------------------------------------------------


def pg_url_with_schema(base_url: str, schema: str, settings: Sequence[str] = ()) -> str:
    """`base_url` whose sessions use `schema` and the extra `NAME=VALUE` server settings."""
    from urllib.parse import quote

    options = " ".join(f"-c{setting}" for setting in [f"search_path={schema}", *settings])
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options={quote(options, safe='')}"


def pg_execute(url: str, *statements: str) -> None:
    """Run `statements` in autocommit mode (DDL, VACUUM, CHECKPOINT)."""
    from sqlalchemy import create_engine

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def reset_pg_schema(base_url: str, schema: str, *, create: bool = True) -> None:
    drop = f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'
    pg_execute(base_url, drop, *([f'CREATE SCHEMA "{schema}"'] if create else []))


def pg_server_version(base_url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(base_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar())
    finally:
        engine.dispose()


def remove_sqlite_store(path: Path) -> None:
    """The store's file, its WAL, shared memory, key file and the run locks beside it."""
    for suffix in ("", "-wal", "-shm", ".key"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    for lock in path.parent.glob(f"{path.name}.*.lock"):
        lock.unlink()


def checkpoint_sqlite(path: Path) -> None:
    """Fold the WAL into the file and flush the dirty pages before a timed phase."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    os.sync()


# --- the command line ------------------------------------------------------------------------


CODE_HELP = (
    "measure the `retention` of this git commit (extracted with git archive into the work "
    "folder) instead of this checkout's working tree, which may be changing"
)
IDLE_HELP = "before each timed phase, wait until the CPUs are at most this busy (1: never wait)"


def resolved_path(text: str) -> Path:
    """An argparse type: an absolute path (the children run in another folder)."""
    return Path(text).resolve()


def csv_of(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    """An argparse type: comma-separated values, each one of `allowed`."""

    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {', '.join(unknown)}; choose from {', '.join(allowed)}"
            )
        return values

    return parse


def add_common_options(
    parser: argparse.ArgumentParser, *, pg_url: str, pg_url_help: str,
    workdir: Path | None, workdir_help: str, idle_below: float, idle_timeout: float,
) -> None:  # fmt: skip
    """The options every benchmark takes, with its own defaults."""
    add = parser.add_argument
    add("--backends", type=csv_of(BACKENDS), default=list(BACKENDS), help="sqlite,postgresql")
    add("--pg-url", default=pg_url, help=pg_url_help)
    add("--workdir", type=resolved_path, default=workdir, help=workdir_help)
    add("--code", metavar="REF", help=CODE_HELP)
    add("--idle-below", type=float, default=idle_below, metavar="FRACTION", help=IDLE_HELP)
    add("--idle-timeout", "--wait-idle", type=float, default=idle_timeout, metavar="SECONDS",
        help="wait at most this long for the CPUs to be idle")  # fmt: skip


def pg_identifier(parser: argparse.ArgumentParser, option: str, value: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", value):
        parser.error(f"{option} must be a plain lower-case identifier")

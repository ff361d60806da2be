"""Child interpreters of the benchmarks: running one, what it reports, the CLI as one, profiles.

- `run_child` runs a command and reaps it with os.wait4 (its CPU time), counts the machine's
  and the local PostgreSQL server's CPU meanwhile, and reads the report a Python child leaves
  with `report_to_parent`: its JSON result, its own peak RSS (VmHWM of /proc/self/status;
  os.wait4's ru_maxrss can hold the parent's, carried over fork + exec) and which `retention`
  it imported. `checked` stops the benchmark on a child that failed.
- `retention_argv(ARGS)`: `retention ARGS` run through this file (`python bench/children.py
  [--profile OUT] ARGS`: the CLI's main in the child, as its console script runs it), which
  then reports so.
- `profiled` runs a call under cProfile in every thread; `print_profile` prints the top of
  such a profile, the command-line frames left out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from harness import REPO, BusyMeter, emit

CHILDREN = Path(__file__).resolve()
REPORT_VARIABLE = "RETENTION_BENCH_REPORT"
# Frames of the command-line wrappers, whose cumulative time is the whole run: not informative.
PROFILE_WRAPPERS = (
    r"^(?!.*(/click/|runpy|<string>|retention/cli/|builtins\.exec|children\.py|threading\.py))"
)

T = TypeVar("T")


def postgres_cpu_seconds() -> float:
    """CPU seconds used so far by the processes named `postgres` on this machine (the local
    PostgreSQL server): their own time plus that of their reaped children, so a backend that
    ended (a child's, when its connection closed) is still counted, through the postmaster.
    0.0 where /proc is unavailable."""
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


@dataclass(frozen=True, slots=True)
class ChildRun:
    wall_seconds: float  # the child's start-up included
    cpu_seconds: float  # user + sys of the child, all its threads
    pg_cpu_seconds: float  # the local postgres processes during the run (the server's work)
    # Busy CPU of the whole machine during the run minus the child's and PostgreSQL's:
    # anything else that ran, kernel writeback included. A few seconds at most when quiet.
    other_cpu_seconds: float
    peak_rss_mb: float  # VmHWM the child reported; ru_maxrss when it reported nothing
    rusage_maxrss_mb: float  # os.wait4's, for reference
    exit_code: int
    stdout: str
    stderr: str
    report: dict[str, Any]  # what the child passed to report_to_parent, with its VmHWM

    @property
    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = self.report.get("result", {})
        return result


def run_child(command: Sequence[str], env: Mapping[str, str]) -> ChildRun:
    """Run `command` (in a neutral folder: `python -m` puts it first on sys.path) and reap it
    with os.wait4 to get that child's own rusage."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        handle, name = tempfile.mkstemp(prefix="bench-report-", suffix=".json")
        os.close(handle)
        report = Path(name)
        try:
            meter, pg_before = BusyMeter(), postgres_cpu_seconds()
            started = time.perf_counter()
            process = subprocess.Popen(
                command, stdout=out, stderr=err, cwd=tempfile.gettempdir(),
                env={**env, REPORT_VARIABLE: str(report)},
            )  # fmt: skip
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            time.sleep(0.5)  # let the postmaster reap the child's backend, whose CPU it holds
            busy, pg = meter.seconds(), max(0.0, postgres_cpu_seconds() - pg_before)
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            reported = json.loads(report.read_text(encoding="utf-8") or "{}")
        finally:
            report.unlink(missing_ok=True)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return ChildRun(
            wall_seconds=wall,
            cpu_seconds=cpu,
            pg_cpu_seconds=pg,
            other_cpu_seconds=max(0.0, busy - cpu - pg),
            peak_rss_mb=reported.get("peak_rss_mb", usage.ru_maxrss / 1024),  # Linux: KiB
            rusage_maxrss_mb=usage.ru_maxrss / 1024,
            exit_code=process.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
            report=reported,
        )


def checked(run: ChildRun, what: str) -> ChildRun:
    if run.exit_code != 0:
        tail = (run.stderr + run.stdout)[-4000:]
        raise SystemExit(f"{what} failed with exit code {run.exit_code}:\n{tail}")
    return run


def proc_status_mb(name: str = "VmHWM", pid: int | str = "self") -> float:
    """A memory figure of a process (this one by default) from /proc/PID/status (VmHWM: peak
    RSS, VmRSS: now), in MiB; 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return 0.0


def report_to_parent(result: Mapping[str, Any], *, baseline_rss_mb: float) -> None:
    """In a child of run_child: leave `result` with this process's peak RSS for the parent."""
    path = os.environ.get(REPORT_VARIABLE)
    if not path:
        return
    retention = sys.modules.get("retention")
    document = {
        "result": dict(result),
        "peak_rss_mb": proc_status_mb(),
        "baseline_rss_mb": baseline_rss_mb,
        "retention_file": getattr(retention, "__file__", None),
    }
    Path(path).write_text(json.dumps(document), encoding="utf-8")


def retention_argv(*args: str, profile: Path | None = None) -> list[str]:
    """`retention ARGS` run by this file in a child of run_child (cli_child)."""
    return [sys.executable, str(CHILDREN), *(["--profile", str(profile)] if profile else []), *args]


def cli_child(argv: list[str]) -> None:
    """`retention ARGV` in this process, as its console script runs it (retention.cli.main,
    which ends with os._exit), then this process's peak RSS reported to the parent. With
    `--profile OUT` first, under cProfile (see `profiled`)."""
    import logging

    profile = None
    if argv[:1] == ["--profile"]:
        profile, argv = Path(argv[1]), argv[2:]
    from retention.cli import cli

    baseline = proc_status_mb()

    def command() -> int:
        try:
            cli.main(args=argv, prog_name="retention")
        except SystemExit as exit_:
            return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
        return 0

    code = profiled(profile, command) if profile else command()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    report_to_parent({"exit_code": code}, baseline_rss_mb=baseline)
    os._exit(code)


# --- profiles --------------------------------------------------------------------------------


def profiled(out: Path, call: Callable[[], T]) -> T:
    """`call()` under cProfile, every thread profiled (`python -m cProfile` sees only the main
    thread, not an import's writer thread). Writes OUT.main (the main thread), OUT.threads (the
    others, when any ran) and OUT (both merged)."""
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
    main_profile = cProfile.Profile()
    try:
        result = main_profile.runcall(call)
    finally:
        threading.Thread.run = plain_run  # type: ignore[method-assign]
    for stale in (out, Path(f"{out}.main"), Path(f"{out}.threads")):
        stale.unlink(missing_ok=True)
    main_profile.dump_stats(f"{out}.main")
    merged = pstats.Stats(main_profile)
    if thread_profiles:
        threads = pstats.Stats(*thread_profiles)
        threads.dump_stats(f"{out}.threads")
        merged.add(threads)
    merged.dump_stats(str(out))
    return result


def print_profile(path: Path, order: str, title: str, limit: int = 15) -> None:
    """The top `limit` functions of a profile by `order`, the command-line frames left out."""
    import io
    import pstats

    emit()
    emit(f"--- {title}: top {limit} by {order} ---")
    if not path.exists():
        emit("(none)")
        return
    prefixes = sorted({str(Path(p)) + "/" for p in sys.path if p} | {f"{REPO}/"}, key=len)
    text = io.StringIO()
    stats = pstats.Stats(str(path), stream=text).sort_stats(order)
    emit(f"({stats.total_tt:.1f} s of profiled time)")  # type: ignore[attr-defined]
    stats.print_stats(PROFILE_WRAPPERS, limit)
    lines = text.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    for line in lines[start:]:
        for prefix in reversed(prefixes):  # longest first: site-packages before its parent
            line = line.replace(prefix, "")
        emit(line)


if __name__ == "__main__":
    cli_child(sys.argv[1:])

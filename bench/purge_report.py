"""The purge benchmark's figures (PurgeMeasure, Measurement) and its report against the
issue's targets (bench/purge_bench.py measures them)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness import Column, RunTimings, emit, environment, percentile, table
from purge_store import Floor

__all__ = ["Measurement", "PurgeMeasure", "report"]

# Targets of the issue, per backend: (min ratio to the floor, max longest batch in seconds).
TARGETS = {"postgresql": (0.6, 0.250), "sqlite": (0.7, 0.500)}
TARGET_PEAK_RSS_MB = 150.0
# "Flat": the main size's peak RSS at most this much above the small size's.
FLAT_TOLERANCE = 0.10


@dataclass(slots=True)
class PurgeMeasure:
    timings: RunTimings  # what the purge's RunObserver was told
    command_seconds: float  # settings, engine, schema check and purge_job
    longest_batch_seconds: float  # PurgeResult.longest_batch_seconds
    process_seconds: float  # the child, interpreter start-up and imports included
    cpu_seconds: float  # the child's user + sys
    pg_cpu_seconds: float  # the local PostgreSQL server's meanwhile
    # VmHWM of the child's own address space. Not os.wait4's ru_maxrss: Linux carries the
    # parent's resident size over fork + exec into it (rusage_maxrss_mb, kept for reference).
    peak_rss_mb: float
    baseline_rss_mb: float  # after imports, before the command ran
    rusage_maxrss_mb: float

    @property
    def deleted(self) -> int:
        return int(self.timings.counts.get("deleted", 0))

    @property
    def purge_seconds(self) -> float:  # phase work: purge_due_leads, counting + batches
        return self.timings.phases.get("work", 0.0)

    @property
    def residue_seconds(self) -> float:
        return self.timings.phases.get("residue", 0.0)

    @property
    def rate(self) -> float:
        return self.deleted / self.purge_seconds if self.purge_seconds else 0.0

    @property
    def command_rate(self) -> float:
        return self.deleted / self.command_seconds if self.command_seconds else 0.0


@dataclass(slots=True)
class Measurement:
    backend: str
    leads: int
    due: int
    describe: dict[str, Any]
    load_seconds: float
    floor: Floor
    purge: PurgeMeasure
    # Share of all CPUs busy during the floor and the purge (one core of two is ~50%): more
    # means something else ran at the same time.
    floor_cpu_busy: float
    purge_cpu_busy: float

    @property
    def ratio(self) -> float:
        return self.purge.rate / self.floor.rate if self.floor.rate else 0.0

    @property
    def command_ratio(self) -> float:
        return self.purge.command_rate / self.floor.rate if self.floor.rate else 0.0


COLUMNS = (
    Column("backend", 10, left=True), Column("leads", 9), Column("due", 8),
    Column("floor r/s", 10), Column("purge r/s", 10), Column("ratio", 6), Column("cmd r/s", 9),
    Column("cmd ratio", 9), Column("longest", 8), Column("p50 batch", 9),
    Column("p90 batch", 9), Column("peak RSS", 9),
)  # fmt: skip


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def _row(m: Measurement) -> list[str]:
    p, batches = m.purge, m.purge.timings.batch_seconds
    return [
        m.backend, f"{m.leads:,}", f"{m.due:,}", f"{m.floor.rate:,.0f}", f"{p.rate:,.0f}",
        f"{m.ratio:.2f}", f"{p.command_rate:,.0f}", f"{m.command_ratio:.2f}",
        f"{p.timings.longest * 1000:.0f}ms", f"{percentile(batches, 0.5) * 1000:.0f}ms",
        f"{percentile(batches, 0.9) * 1000:.0f}ms", f"{p.peak_rss_mb:.1f}MiB",
    ]  # fmt: skip


def _details(m: Measurement) -> None:
    p, f, t = m.purge, m.floor, m.purge.timings
    emit()
    emit(f"{m.backend}, {m.leads:,} leads ({m.describe})")
    committed = (
        f"commit {f.commit_seconds:.2f} s" if f.commit_seconds is not None else "rolled back"
    )
    emit(
        f"  floor: {f.seconds:.2f} s (audit INSERT..SELECT {f.insert_seconds:.2f} s, DELETE "
        f"{f.delete_seconds:.2f} s, {committed}); CPUs {m.floor_cpu_busy:.0%} busy meanwhile"
    )
    if f.checkpoint_seconds is not None and f.rate_with_checkpoint:
        emit(
            f"  floor's WAL checkpoint afterwards: {f.checkpoint_seconds:.2f} s; floor with it "
            f"{f.rate_with_checkpoint:,.0f} rows/s, purge ratio to that "
            f"{p.rate / f.rate_with_checkpoint:.2f}"
        )
    emit(
        f"  purge: {t.status}, {p.deleted:,} deleted; work (purge_due_leads) "
        f"{p.purge_seconds:.2f} s, residue {p.residue_seconds:.2f} s ({t.counts.get('residue')})"
        f", run {t.run_seconds:.2f} s, command {p.command_seconds:.2f} s, process "
        f"{p.process_seconds:.2f} s; CPUs {m.purge_cpu_busy:.0%} busy meanwhile"
    )
    outside = p.purge_seconds - sum(t.batch_seconds)
    emit(
        f"  batches: {t.batches_text('leads')}; outside the batches (count_due, guards, the empty "
        f"statements that end each walk) {outside:.2f} s"
    )
    emit(
        f"  memory: peak RSS {p.peak_rss_mb:.1f} MiB (after imports {p.baseline_rss_mb:.1f} "
        f"MiB; os.wait4 ru_maxrss {p.rusage_maxrss_mb:.1f} MiB, can include the parent's); CPU: "
        f"child {p.cpu_seconds:.2f} s, PostgreSQL {p.pg_cpu_seconds:.2f} s"
    )


def _targets(group: Sequence[Measurement]) -> None:
    main = max(group, key=lambda m: m.leads)
    min_ratio, max_batch = TARGETS[main.backend]
    p = main.purge
    longest = p.timings.longest
    emit(
        f"  {main.backend} ({main.leads:,} leads, batch size {p.timings.batch_size}):"
        f"\n    ratio >= {min_ratio}: {main.ratio:.2f} purge only -> "
        f"{_verdict(main.ratio >= min_ratio)} ({main.ratio / min_ratio - 1:+.0%}); "
        f"{main.command_ratio:.2f} whole command -> "
        f"{_verdict(main.command_ratio >= min_ratio)} ({main.command_ratio / min_ratio - 1:+.0%})"
    )
    if main.floor.rate_with_checkpoint:
        emit(f"    (vs the floor with its WAL checkpoint: "
             f"{p.rate / main.floor.rate_with_checkpoint:.2f})")  # fmt: skip
    emit(
        f"    longest batch <= {max_batch * 1000:.0f} ms: {longest * 1000:.0f} ms -> "
        f"{_verdict(longest <= max_batch)} ({longest / max_batch - 1:+.0%})"
        f"\n    peak RSS < {TARGET_PEAK_RSS_MB:.0f} MB: {p.peak_rss_mb:.1f} MiB -> "
        f"{_verdict(p.peak_rss_mb < TARGET_PEAK_RSS_MB)}"
    )
    small = [m for m in group if m.leads < main.leads]
    if small:
        s = min(small, key=lambda m: m.leads)
        growth = p.peak_rss_mb / s.purge.peak_rss_mb - 1
        emit(
            f"    flat memory: {s.leads:,} leads {s.purge.peak_rss_mb:.1f} MiB, "
            f"{main.leads:,} leads {p.peak_rss_mb:.1f} MiB ({growth:+.1%}) -> "
            f"{_verdict(growth <= FLAT_TOLERANCE)} (tolerance +{FLAT_TOLERANCE:.0%})"
        )


def report(measurements: Sequence[Measurement], args: argparse.Namespace) -> None:
    emit()
    emit("=" * 100)
    emit(f"code under test: {args.code_description}")
    for line in environment(args.pg_url if "postgresql" in args.backends else None):
        emit(line)
    for line in table(COLUMNS, (_row(m) for m in measurements)):
        emit(line)
    emit()
    emit("ratio: phase work (purge_due_leads: counting + batches) vs the floor; cmd ratio: the")
    emit("whole command (settings, engine, run rows and events, residue step) vs the floor.")
    emit("longest, p50, p90: the batch transactions' wall times as the observer's batch_done")
    emit("was told them (longest = PurgeResult.longest_batch_seconds).")
    for m in measurements:
        _details(m)
    emit()
    emit("targets:")
    for backend in dict.fromkeys(m.backend for m in measurements):
        _targets([m for m in measurements if m.backend == backend])
    emit("=" * 100)

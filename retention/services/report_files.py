"""Writing reports to files: atomically (a reader never sees half a report), one file per
format named after the period, so a report never replaces another period's."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from retention.reports.formats import EXTENSIONS, RENDERERS
from retention.reports.model import Period, Report

__all__ = ["report_paths", "write_atomically", "write_report_files"]


def report_paths(folder: Path, period: Period, formats: Sequence[str]) -> list[Path]:
    """Where the report of `period` goes in each format: report_<period>.<extension>."""
    return [folder / f"report_{period.label()}.{EXTENSIONS[name]}" for name in formats]


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder, fsynced, renamed
    over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_report_files(report: Report, folder: Path, formats: Sequence[str]) -> list[Path]:
    """The report in each of `formats`, written into `folder`; the paths written."""
    paths = report_paths(folder, report.period, formats)
    for name, path in zip(formats, paths, strict=True):
        write_atomically(path, RENDERERS[name](report))
    return paths

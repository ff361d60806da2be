"""`--format csv`: one row per figure, `section,figure,key,value`, for spreadsheets and tools.

The report document (reports/document.py) flattened: `section` is its top-level key,
`figure` the figure's key, `key` the group of a breakdown (a rule, a portal, a day, an age,
a job; empty for a single figure), `value` the number, date or text (empty for null; true
and false for booleans). A list of per-day or per-age rows gives one CSV row per value:
figure `by_day.count`, key the day. `runs` rows are figure `runs`, `failed`, ..., key the job.
Rows keep the document's order; the header comes first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from retention.reports.document import report_document
from retention.reports.model import Report

__all__ = ["CSV_HEADER", "render_csv"]

CSV_HEADER = ("section", "figure", "key", "value")
# The field of a list's rows that names the row (the CSV `key`).
_ROW_KEYS = ("day", "age", "topic")
_BY_JOB = "runs"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _rows(section: str, figure: str, value: Any) -> Iterator[tuple[str, str, str, str]]:
    if isinstance(value, list):
        for item in value:
            if not isinstance(item, dict):
                yield (section, figure, "", _cell(item))
                continue
            label = next((str(item[k]) for k in _ROW_KEYS if k in item), "")
            for name, inner in item.items():
                if name not in _ROW_KEYS:
                    yield (section, f"{figure}.{name}", label, _cell(inner))
    elif isinstance(value, dict):
        for name, inner in value.items():
            if section == _BY_JOB:  # runs: job -> its figures; the job is the key
                yield (section, name, figure, _cell(inner))
            else:
                yield (section, figure, name, _cell(inner))
    else:
        yield (section, figure, "", _cell(value))


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for section, value in report_document(report).items():
        if isinstance(value, dict):
            for figure, inner in value.items():
                writer.writerows(_rows(section, figure, inner))
        else:
            writer.writerow((section, "", "", _cell(value)))
    return out.getvalue()

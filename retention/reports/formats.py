"""The report's formats, by the names `--format` and `[jobs.report] formats` use."""

from __future__ import annotations

from collections.abc import Callable

from retention.reports.model import Report
from retention.reports.render_csv import render_csv
from retention.reports.render_json import render_json
from retention.reports.render_text import render_text

__all__ = ["EXTENSIONS", "RENDERERS"]


def _html(report: Report) -> str:
    # Imported when used: the page and its charts are the largest renderer.
    from retention.reports.render_html import render_html

    page: str = render_html(report)
    return page


RENDERERS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "json": render_json,
    "csv": render_csv,
    "html": _html,
}
EXTENSIONS = {"text": "txt", "json": "json", "csv": "csv", "html": "html"}

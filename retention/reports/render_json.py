"""`--format json`: the report document (reports/document.py), indented, keys in order."""

from __future__ import annotations

import json

from retention.reports.document import report_document
from retention.reports.model import Report

__all__ = ["render_json"]


def render_json(report: Report) -> str:
    return json.dumps(report_document(report), indent=2, ensure_ascii=True) + "\n"

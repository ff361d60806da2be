"""Logging set-up for the command line: one line per event on stderr, text or JSON."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from retention.logcontext import ContextFilter

__all__ = ["configure_logging"]

_OURS = ("retention", "jobs")
# Attributes every LogRecord has; anything else came in through `extra` (run_id, job, ...).
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = "".join(f" {k}={v}" for k, v in sorted(_extras(record).items()))
        return (
            f"{_timestamp(record)} {record.levelname.lower()} {record.name}: "
            f"{record.getMessage()}{extras}"
        )


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, sort_keys=True)


def configure_logging(log_format: str, level: str) -> None:
    """Send this tool's loggers to the current stderr, replacing any earlier set-up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())  # every line of a run names its job and run id
    for name in (*_OURS, "alembic"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(level.upper() if name != "alembic" else "WARNING")
        logger.propagate = False

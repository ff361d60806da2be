"""Dates typed on the command line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

__all__ = ["SINCE", "WHEN"]


class _When(click.ParamType[datetime]):
    """YYYY-MM-DD (through the end of that day, UTC; with `start_of_day`, from its start) or
    an ISO 8601 date-time (UTC if no zone)."""

    name = "DATE"

    def __init__(self, *, start_of_day: bool = False) -> None:
        self.start_of_day = start_of_day

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return start if self.start_of_day else start + timedelta(days=1)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time", param, ctx)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


WHEN = _When()
SINCE = _When(start_of_day=True)

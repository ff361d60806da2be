"""Dates typed on the command line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

__all__ = ["WHEN"]


class _When(click.ParamType[datetime]):
    """YYYY-MM-DD (through the end of that day, UTC) or an ISO 8601 date-time (UTC if no zone)."""

    name = "DATE"

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
            return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time", param, ctx)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


WHEN = _When()

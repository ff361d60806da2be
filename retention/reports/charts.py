"""Inline SVG charts for the HTML report: bars per day, and stacked bars per group.

Pure strings from plain numbers (no dependency, no clock, no ids, so a page may hold many).
Sizes are viewBox units: a chart scales to its container's width. Colours are fill
attributes, so a chart prints as it shows. Every text is escaped, the accessible name too.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

__all__ = ["NOTHING", "Bar", "Segment", "daily_bars", "stacked_bars", "ticks"]

NOTHING = "Nothing in this period"

_WIDTH = 720  # a chart's width in viewBox units, unless told
_FONT = 11
_CHAR = 0.6 * _FONT  # the width of an average character of the chart's text
_TOP = 30  # room for the legend
_RIGHT = 8
_AXIS_GAP = 6  # between a tick label and the plot
_LABEL_GAP = 10  # the least room between two labels under the axis
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_INK, _MUTED, _GRID, _IDLE = "#2d3748", "#4a5568", "#e2e8f0", "#a0aec0"
_WARN_BAND, _WARN_INK = "#fff5f5", "#c53030"


@dataclass(frozen=True, slots=True)
class Segment:
    """A part of a stacked bar: its name in the legend, its fill, its count."""

    name: str
    fill: str
    count: int


@dataclass(frozen=True, slots=True)
class Bar:
    """One stacked bar: its label under the axis, its segments from the bottom up, and
    whether it lies past the chart's limit (drawn on a warning band, in warning ink)."""

    label: str
    segments: tuple[Segment, ...]
    past_limit: bool = False


@dataclass(frozen=True, slots=True)
class _Plot:
    """The plot area in viewBox units and its value scale (0 at `bottom`, `top_value` at `top`)."""

    left: float
    top: float
    right: float
    bottom: float
    top_value: int

    @property
    def width(self) -> float:
        return self.right - self.left

    def y(self, value: float) -> float:
        return self.bottom - (self.bottom - self.top) * value / self.top_value


def ticks(peak: int) -> tuple[int, ...]:
    """The value axis: 0 and round steps (1, 2 or 5 times a power of ten, at most five of
    them) up to at least `peak`; only 0 when `peak` is 0."""
    if peak <= 0:
        return (0,)
    raw = peak / 5
    magnitude = 10 ** (len(str(math.floor(raw))) - 1) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return tuple(range(0, math.ceil(peak / step) * step + 1, step))


def _n(number: int) -> str:
    return f"{number:,}"


def _text(x: float, y: float, text: str, **attributes: str) -> str:
    extra = "".join(
        f' {name.replace("_", "-")}="{escape(value)}"' for name, value in attributes.items()
    )
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _rect(x: float, y: float, width: float, height: float, fill: str, tip: str = "") -> str:
    shape = f'x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}"'
    if not tip:
        return f'<rect {shape} fill="{escape(fill)}"/>'
    return f'<rect {shape} fill="{escape(fill)}"><title>{escape(tip)}</title></rect>'


def _svg(title: str, description: str, width: float, height: int, body: list[str]) -> str:
    root = (
        f'<svg class="chart" viewBox="0 0 {width:.0f} {height}" role="img" '
        f'aria-label="{escape(title)}" font-size="{_FONT}" fill="{_INK}">'
    )
    head = [root, f"<title>{escape(title)}</title>", f"<desc>{escape(description)}</desc>"]
    return "\n".join([*head, *body, "</svg>"])


def _plot(
    peak: int, width: float, height: int, below: float, margin: float = 0
) -> tuple[_Plot, list[str]]:
    """The plot over a value axis reaching `peak` (labelled ticks and their grid lines),
    leaving `below` units under it for the labels and at least `margin` on either side."""
    values = ticks(peak)
    left = max(max(len(_n(value)) for value in values) * _CHAR + _AXIS_GAP + 4, margin)
    plot = _Plot(left, _TOP, width - max(_RIGHT, margin), height - below, values[-1] or 1)
    body = []
    for value in values:
        y = plot.y(value)
        colour = _MUTED if value == 0 else _GRID
        body.append(
            f'<line x1="{plot.left:.1f}" y1="{y:.1f}" x2="{plot.right:.1f}" '
            f'y2="{y:.1f}" stroke="{colour}" stroke-width="1"/>'
        )
        body.append(
            _text(plot.left - _AXIS_GAP, y + _FONT / 3, _n(value), text_anchor="end", fill=_MUTED)
        )
    if peak == 0:
        middle = (plot.top + plot.bottom) / 2
        body.append(
            _text(
                (plot.left + plot.right) / 2,
                middle,
                NOTHING,
                text_anchor="middle",
                fill=_MUTED,
                font_style="italic",
            )
        )
    return plot, body


def _legend(entries: Sequence[tuple[str, str]], x: float) -> list[str]:
    """Swatches and names from `x` on, along the top."""
    body = []
    for name, fill in entries:
        body.append(_rect(x, 8, 10, 10, fill))
        body.append(_text(x + 14, 17, name))
        x += 14 + len(name) * _CHAR + 16
    return body


def _day_label(day: date, with_year: bool) -> str:
    label = f"{day.day} {_MONTHS[day.month - 1]}"
    return f"{label} {day.year}" if with_year else label


def daily_bars(
    title: str,
    days: Sequence[date],
    counts: Sequence[int],
    fill: str,
    *,
    unit: str,
    idle: Sequence[bool] = (),
    idle_name: str = "",
    width: float = _WIDTH,
) -> str:
    """One bar per day (`counts[i]` on `days[i]`), the days labelled as often as they fit;
    a day marked in `idle` gets a grey dot on the axis, named `idle_name` in the legend."""
    peak = max(counts, default=0)
    height = 200 if peak else 120
    with_year = bool(days) and days[0].year != days[-1].year
    labels = [_day_label(day, with_year) for day in days]
    label_width = max((len(label) for label in labels), default=0) * _CHAR
    plot, body = _plot(peak, width, height, below=26, margin=label_width / 2)
    slot = plot.width / max(len(days), 1)
    every = max(1, math.ceil((label_width + _LABEL_GAP) / slot))
    bar_width = min(slot * 0.7, 40)
    for index, (day, count, label) in enumerate(zip(days, counts, labels, strict=True)):
        middle = plot.left + slot * (index + 0.5)
        if count:
            top = plot.y(count)
            body.append(
                _rect(
                    middle - bar_width / 2,
                    top,
                    bar_width,
                    plot.bottom - top,
                    fill,
                    f"{day.isoformat()}: {_n(count)} {unit}",
                )
            )
        if idle and idle[index]:
            body.append(
                f'<circle cx="{middle:.1f}" cy="{plot.bottom + 5:.1f}" r="2.5" fill="{_IDLE}"/>'
            )
        if (len(days) - 1 - index) % every == 0:  # the last day always labelled
            body.append(_text(middle, plot.bottom + 20, label, text_anchor="middle", fill=_MUTED))
    if any(idle):
        body.append(f'<circle cx="{plot.left + 5:.1f}" cy="13" r="3" fill="{_IDLE}"/>')
        body.append(_text(plot.left + 14, 17, idle_name))
    total = sum(counts)
    if peak:
        busiest = days[list(counts).index(peak)]
        summary = (
            f"{_n(total)} {unit} over {len(days)} days; the most, {_n(peak)}, "
            f"on {busiest.isoformat()}."
        )
    else:
        summary = f"{NOTHING}."
    return _svg(title, summary, width, height, body)


def stacked_bars(title: str, bars: Sequence[Bar], *, limit: str = "") -> str:
    """One stacked bar per group, labels wrapped under it; a dashed line named `limit`
    before the first bar past it, and those bars on a warning band."""
    totals = [sum(segment.count for segment in bar.segments) for bar in bars]
    height = 240 if any(totals) else 160
    plot, body = _plot(max(totals, default=0), _WIDTH, height, below=44)
    slot = plot.width / max(len(bars), 1)
    bar_width = min(slot * 0.55, 64)
    legend: dict[tuple[str, str], None] = {}
    for index, bar in enumerate(bars):
        start, middle = plot.left + slot * index, plot.left + slot * (index + 0.5)
        ink = _MUTED
        if bar.past_limit:
            ink = _WARN_INK
            body.insert(0, _rect(start, plot.top, slot, plot.bottom - plot.top, _WARN_BAND))
            if limit and (index == 0 or not bars[index - 1].past_limit):
                body.append(
                    f'<line x1="{start:.1f}" y1="{plot.top - 4:.1f}" x2="{start:.1f}" '
                    f'y2="{plot.bottom + 40:.1f}" stroke="{_WARN_INK}" '
                    f'stroke-width="1.5" stroke-dasharray="4 3"/>'
                )
                body.append(_text(start + 4, plot.top + 10, limit, fill=_WARN_INK))
        base = 0
        for segment in bar.segments:
            legend[(segment.name, segment.fill)] = None
            if segment.count:
                top = plot.y(base + segment.count)
                body.append(
                    _rect(
                        middle - bar_width / 2,
                        top,
                        bar_width,
                        plot.y(base) - top,
                        segment.fill,
                        f"{bar.label}: {_n(segment.count)} {segment.name}",
                    )
                )
                base += segment.count
        lines = textwrap.wrap(
            bar.label, max(4, int(slot / _CHAR) - 1), max_lines=2, placeholder=" …"
        )
        for line_number, line in enumerate(lines):
            body.append(
                _text(
                    middle,
                    plot.bottom + 16 + 13 * line_number,
                    line,
                    text_anchor="middle",
                    fill=ink,
                )
            )
    body += _legend(list(legend), plot.left)
    described = "; ".join(
        f"{bar.label}: {_n(total)}" for bar, total in zip(bars, totals, strict=True)
    )
    return _svg(title, f"{described}." if any(totals) else f"{NOTHING}.", _WIDTH, height, body)

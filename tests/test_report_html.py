"""The HTML report (SPEC section 7): every figure of the text rendering, every text escaped, a
self-contained and deterministic page, charts that survive an empty or a one-day period, and a
real browser (Debian's chromium) that draws it."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from retention.reports.charts import NOTHING, daily_bars, ticks
from retention.reports.document import DEADLINE
from retention.reports.model import (
    AGE_BUCKETS,
    AgeBucket,
    AuditChainState,
    Backlog,
    BacklogDay,
    DayCount,
    Erased,
    ErasureRequests,
    JobRuns,
    LegalHolds,
    Period,
    PolicyInForce,
    Purged,
    Report,
)
from retention.reports.render_html import PURGED_FILL, render_html
from retention.reports.render_text import render_text
from tests.png import read_png

SINCE = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2024, 2, 1, 6, 30, tzinfo=UTC)
# The browser test keeps its screenshot here too, to look at.
SCREENSHOT = Path(tempfile.gettempdir()) / "report-screenshot.png"
HOSTILE = "<script>alert(1)</script>"
QUOTES = "\"&'<>"
BREAKOUT = "</style><img src=x onerror=alert(1)>"
PORTALS = ("IMN-DEU", "IWB-BEL", "IWT-AUT", "IWT-DEU", "LIM-FRA", "MAG-FRA", "SLG-FRA")
CATEGORIES = ("CLASSIFIED", "AGENCY", "PROPERTY_SEARCH")
STATEMENTS = (
    ("Retention (TTL)", "A lead is hard-deleted once its TTL has passed."),
    ("Retention (ceiling)", "Whatever its TTL says, a lead is deleted after 3 calendar years."),
    ("Erasure", "On a seeker's request, every lead of the seeker has its contact data erased."),
    ("Legal hold", "A lead under legal hold is neither purged nor erased; each skip is recorded."),
)  # fmt: skip


def _split(total: int, names: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """`total` shared unevenly among `names`, summing to it."""
    weights = [len(names) + index * 3 for index in range(len(names))]
    shares = [total * weight // sum(weights) for weight in weights[:-1]]
    return tuple(zip(names, [*shares, total - sum(shares)], strict=True))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def make_report(days: int = 31) -> Report:
    """A month of a busy store, with something to look at in every section: a backlog, two
    overdue requests, failed runs, a day without a purge run."""
    period = Period(SINCE, SINCE + timedelta(days=days))
    dates = period.days()
    purged = [1_000 + (index * 379) % 800 for index in range(len(dates))]
    erased = [(index * 5 + 3) % 7 for index in range(len(dates))]
    total, erased_total = sum(purged), sum(erased)
    ages = ((21, 2), (9, 1), (4, 0), (1, 1), (0, 1), (2, 2))
    history = tuple(
        BacklogDay(day, 0 if index == 9 else 24, 0 if index == 9 else 20 + (index * 17) % 60)
        for index, day in enumerate(dates)
    )
    return Report(
        generated_at=NOW,
        period=period,
        purged=Purged(
            total=total,
            by_rule=(("ttl", total - total // 40), ("ceiling", total // 40)),
            by_portal=_split(total, PORTALS),
            by_category=_split(total, CATEGORIES),
            by_day=tuple(DayCount(day, count) for day, count in zip(dates, purged, strict=True)),
        ),
        erased=Erased(
            total=erased_total,
            by_source=_split(erased_total, ("request", "suppression", "upstream")),
            by_day=tuple(DayCount(day, count) for day, count in zip(dates, erased, strict=True)),
        ),
        erasure_requests=ErasureRequests(
            received=42,
            completed=37,
            completed_late=2,
            pending=5,
            deferred=1,
            failed=1,
            overdue=2,
            median_days_to_complete=4.5,
            max_days_to_complete=33.25,
            oldest_open_received_at=datetime(2023, 12, 20, 9, 15, tzinfo=UTC),
            ages=tuple(
                AgeBucket(label, done, still)
                for label, (done, still) in zip(AGE_BUCKETS, ages, strict=True)
            ),
        ),
        backlog=Backlog(
            total=57,
            by_rule=(("ttl", 50), ("ceiling", 7)),
            held=3,
            oldest_due_at=datetime(2024, 2, 1, 5, 0, tzinfo=UTC),
            lag_seconds=5_400,
            history=history,
        ),
        legal_holds=LegalHolds(
            active=4,
            active_on_leads=3,
            active_on_subjects=1,
            placed=2,
            released=1,
            skips=(("purge", 12), ("erasure", 2), ("import", 1)),
            skipped_total=15,
        ),
        runs=(
            JobRuns(
                "purge", 744, 740, 2, 1, 1, 3, NOW - timedelta(hours=1), NOW - timedelta(days=3)
            ),
            JobRuns("erasure", 31, 31, 0, 0, 0, 0, NOW - timedelta(hours=6), None),
            JobRuns("report", 1, 1, 0, 0, 0, 0, NOW - timedelta(days=1), None),
        ),
        audit_chain=AuditChainState(
            ok=True,
            events=48_213,
            head_event_id=48_213,
            head_hash=_digest("head"),
            first_bad_event=None,
            problem=None,
            anchor=f"48000:{_digest('anchor')}",
            anchor_ok=True,
        ),
        policy=PolicyInForce(
            ceiling_years=3,
            erased_fields=("firstName", "lastName", "email", "phoneNumbers"),
            guard_max_share=0.2,
            guard_max_leads=1000,
            statements=STATEMENTS,
        ),
    )


def zero_report(period: Period) -> Report:
    """A store where nothing happened in `period`, and nothing is open."""
    report = make_report()
    zeros = tuple(DayCount(day, 0) for day in period.days())
    return replace(
        report,
        period=period,
        purged=Purged(0, (("ttl", 0), ("ceiling", 0)), (), tuple((c, 0) for c in CATEGORIES),
                      zeros),
        erased=Erased(0, (("request", 0), ("suppression", 0), ("upstream", 0)), zeros),
        erasure_requests=ErasureRequests(0, 0, 0, 0, 0, 0, 0, None, None, None,
                                         tuple(AgeBucket(label, 0, 0) for label in AGE_BUCKETS)),
        backlog=Backlog(0, (("ttl", 0), ("ceiling", 0)), 0, None, 0,
                        tuple(BacklogDay(day, 0, 0) for day in period.days())),
        legal_holds=LegalHolds(0, 0, 0, 0, 0, (("purge", 0), ("erasure", 0), ("import", 0)), 0),
        runs=tuple(JobRuns(job, 0, 0, 0, 0, 0, 0, None, None) for job in ("purge", "erasure")),
        audit_chain=AuditChainState(True, 0, None, "0" * 64, None, None, None, None),
    )  # fmt: skip


class Page(HTMLParser):
    """A page as a reader meets it: its elements with their attributes, its visible text
    (without the stylesheet, the title and the charts' texts) and the cells of its table rows."""

    _HIDDEN = frozenset({"style", "title", "svg", "script"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.rows: list[list[str]] = []
        self._data: list[str] = []
        self._cell: list[str] | None = None
        self._hidden = 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag in self._HIDDEN:
            self._hidden += 1
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._data.append(data)
            if self._cell is not None:
                self._cell.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._data).split())

    def tags(self, name: str) -> list[dict[str, str | None]]:
        return [attrs for tag, attrs in self.elements if tag == name]

    def shows(self, name: str, count: int) -> bool:
        """Whether `name` and its count sit side by side: in a table row or as "name count"."""
        figure = f"{count:,}"
        return [name, figure] in (row[:2] for row in self.rows) or f"{name} {figure}" in self.text


def test_the_page_shows_every_figure_of_the_text_rendering() -> None:
    report = make_report()
    html = render_html(report)
    page = Page(html)
    for number in re.findall(r"\d[\d,.]*\d|\d", render_text(report)):
        assert number in page.text, number
    purged, erased, holds = report.purged, report.erased, report.legal_holds
    for name, count in (*purged.by_rule, *purged.by_portal, *purged.by_category,
                        *erased.by_source, *report.backlog.by_rule, *holds.skips):  # fmt: skip
        assert page.shows(name, count), (name, count)
    for label in ("Leads purged", "Leads erased", "Backlog"):
        assert label in page.text
    assert f"{purged.total:,}" in page.text and f"{erased.total:,}" in page.text
    days = zip(purged.by_day, erased.by_day, strict=True)
    active = [[f"{p.day}", f"{p.count:,}", f"{e.count:,}"] for p, e in days if p.count or e.count]
    assert all(row in page.rows for row in active)
    for bucket in report.erasure_requests.ages:
        total = bucket.completed + bucket.open
        assert [bucket.label, str(bucket.completed), str(bucket.open), str(total)] in page.rows
    assert "median 4.5 days, max 33.25 days" in page.text and DEADLINE in page.text
    assert "Largest at a run 79 on 2024-01-08" in page.text
    for runs in report.runs:
        figures = (runs.runs, runs.succeeded, runs.failed, runs.skipped, runs.interrupted)
        assert [runs.job, *(f"{n:,}" for n in figures)] in (row[:6] for row in page.rows)
    chain = report.audit_chain
    assert f"<code>{chain.head_event_id}:{chain.head_hash}</code>" in html  # monospace
    assert f"held {chain.anchor}" in page.text
    for topic, sentence in report.policy.statements:
        assert topic in page.text and sentence in page.text


def test_the_summary_flags_every_problem_and_is_clear_when_there_is_none() -> None:
    page = Page(render_html(make_report()))
    for finding in ("PROBLEM 2 erasure requests are overdue",
                    "PROBLEM 57 leads are due but still present", "PROBLEM purge: 2 runs failed",
                    "CHECK 2 requests were completed late",
                    "CHECK 1 erasure request failed, still open",
                    "CHECK purge: 1 run was interrupted"):  # fmt: skip
        assert finding in page.text
    chain = replace(make_report().audit_chain, ok=False, first_bad_event=7, problem="hash mismatch")
    broken = Page(render_html(replace(make_report(), audit_chain=chain)))
    assert "PROBLEM Audit chain BROKEN at event 7: hash mismatch" in broken.text
    clear = Page(render_html(zero_report(make_report().period)))
    assert "PROBLEM" not in clear.text and "OK No problem found" in clear.text


def _hostile(report: Report) -> Report:
    """`report` with a hostile string in every free text the model has."""
    return replace(
        report,
        purged=replace(report.purged, by_rule=((HOSTILE, 1),),
                       by_portal=((HOSTILE, 2), (QUOTES, 3)),
                       by_category=((QUOTES, 4), (BREAKOUT, 5))),
        erased=replace(report.erased, by_source=((BREAKOUT, 1),)),
        erasure_requests=replace(report.erasure_requests, ages=(AgeBucket(HOSTILE, 1, 1),
                                                                AgeBucket(BREAKOUT, 0, 2))),
        backlog=replace(report.backlog, by_rule=((QUOTES, 6),)),
        legal_holds=replace(report.legal_holds, skips=((HOSTILE, 7),)),
        runs=(JobRuns(BREAKOUT, 2, 1, 1, 0, 0, 0, None, None),),
        audit_chain=replace(report.audit_chain, ok=False, first_bad_event=3, problem=BREAKOUT,
                            head_hash=QUOTES, anchor=HOSTILE, anchor_ok=False),
        policy=replace(report.policy, statements=((HOSTILE, BREAKOUT), (QUOTES, HOSTILE))),
    )  # fmt: skip


@pytest.mark.parametrize("anchor_problem", [None, BREAKOUT], ids=["anchor", "anchor-problem"])
def test_no_text_of_the_report_can_escape_into_markup(anchor_problem: str | None) -> None:
    report = _hostile(make_report())
    report = replace(report, audit_chain=replace(report.audit_chain, anchor_problem=anchor_problem))
    html = render_html(report)
    page = Page(html)
    assert not page.tags("script") and not page.tags("img") and len(page.tags("style")) == 1
    assert not [name for _, attrs in page.elements for name in attrs if name.startswith("on")]
    for text in (HOSTILE, QUOTES, BREAKOUT):
        assert text not in html
        assert text in page.text  # shown, as text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&quot;&amp;&#x27;&lt;&gt;" in html


def test_the_page_is_self_contained() -> None:
    html = render_html(make_report())
    page = Page(html)
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert not re.search(r"https?://|url\(|@import", html)
    assert not [attrs for _, attrs in page.elements if "src" in attrs]
    anchors = {attrs["id"] for _, attrs in page.elements if "id" in attrs}
    links = [attrs["href"] for attrs in page.tags("a")]
    assert links and all(link and link.startswith("#") and link[1:] in anchors for link in links)
    assert page.tags("meta")[0] == {"charset": "utf-8"}
    assert "<title>Compliance report 2024-01-01 to 2024-01-31 (UTC, 31 days)</title>" in html
    assert html.startswith("<!DOCTYPE html>\n") and "@media print" in html


def test_the_same_report_gives_the_same_bytes() -> None:
    assert render_html(make_report()) == render_html(make_report())
    assert render_html(make_report()).encode() == render_html(replace(make_report())).encode()


@pytest.mark.parametrize("days", [1, 31], ids=["one-day", "month"])
def test_a_period_with_nothing_in_it_renders_a_note(days: int) -> None:
    period = Period(SINCE, SINCE + timedelta(days=days))
    html = render_html(zero_report(period))
    assert html.count(f">{NOTHING}</text>") == 4  # each chart
    assert "No lead purged or erased." in Page(html).text


def test_a_one_day_period_draws_one_bar_per_chart() -> None:
    report = make_report(days=1)
    html = render_html(report)
    title = "<title>Compliance report 2024-01-01 (UTC, 1 day)</title>"
    assert title in html and NOTHING not in html
    assert html.count("<title>2024-01-01: ") == 3  # purged, erased, backlog
    part = Period(SINCE + timedelta(hours=6), SINCE + timedelta(hours=18))
    assert "2024-01-01T06:00:00Z to 2024-01-01T18:00:00Z" in render_html(
        replace(report, period=part)
    )


@pytest.mark.parametrize(
    ("peak", "expected"),
    [(0, (0,)), (1, (0, 1)), (3, (0, 1, 2, 3)), (7, (0, 2, 4, 6, 8)),
     (1_241, (0, 500, 1_000, 1_500)), (12_345, (0, 5_000, 10_000, 15_000))],
)  # fmt: skip
def test_the_value_axis_has_a_few_round_ticks(peak: int, expected: tuple[int, ...]) -> None:
    assert ticks(peak) == expected


def _day_labels(svg: str) -> list[tuple[float, str]]:
    pattern = r'<text x="([\d.]+)" [^>]*text-anchor="middle"[^>]*>(\d{1,2} \w{3}(?: \d{4})?)<'
    return [(float(x), label) for x, label in re.findall(pattern, svg)]


@pytest.mark.parametrize("days", [1, 7, 31, 92, 366, 1_000])
def test_day_labels_never_overlap_and_the_last_day_has_one(days: int) -> None:
    dates = [date(2023, 12, 1) + timedelta(days=n) for n in range(days)]
    svg = daily_bars("Leads purged per day", dates, [12_345] * days, PURGED_FILL, unit="leads")
    labels = _day_labels(svg)
    last = f"{dates[-1].day} {dates[-1]:%b}" + (f" {dates[-1].year}" if days > 31 else "")
    assert labels[-1][1] == last
    assert len(labels) >= min(days, 5)
    for (x, text), (next_x, next_text) in itertools.pairwise(labels):
        assert next_x - x >= max(len(text), len(next_text)) * 0.6 * 11, (text, next_text)
    assert "15,000" in svg and "<title>Leads purged per day</title>" in svg
    assert 'aria-label="Leads purged per day"' in svg


def test_chart_texts_are_escaped() -> None:
    svg = daily_bars(HOSTILE, [SINCE.date()], [1], PURGED_FILL, unit=QUOTES, idle=[True],
                     idle_name=BREAKOUT)  # fmt: skip
    assert HOSTILE not in svg and QUOTES not in svg and BREAKOUT not in svg
    assert not {"script", "img"} & {tag for tag, _ in Page(svg).elements}


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if (path := shutil.which(name)) is not None:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is missing (Debian package chromium): .ci/run installs it")
    pytest.skip("chromium not installed (Debian package chromium)")


def test_a_browser_draws_the_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    browser = _chromium()
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    page.write_text(render_html(make_report()), encoding="utf-8")
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--force-device-scale-factor=1", f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri(),
    ]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{browser} took more than 120 s to draw {page}")
    assert done.returncode == 0 and shot.exists(), done.stderr.decode(errors="replace")[-2000:]
    shutil.copyfile(shot, SCREENSHOT)
    with capsys.disabled():
        sys.stdout.write(f"\nscreenshot of the HTML report: {SCREENSHOT}\n")
    image = read_png(shot.read_bytes())
    assert (image.width, image.height) == (1280, 2400)
    colours = image.colours()
    assert len(colours) > 500, "the page looks blank"  # a line of text on white: about 100
    assert colours[bytes.fromhex(PURGED_FILL[1:])] > 20_000, "no chart bars drawn"
    assert colours[bytes.fromhex("c53030")] > 1_000, "no red badge for the problems"

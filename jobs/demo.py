"""`retention demo`: a month of the tool at work on a store of synthetic leads, in a few
seconds, ending with the compliance report.

The store's leads arrived over four years. Then a month is played on a moved clock
(retention.clock.simulated): on its first day two legal holds, and a first purge that the
blast-radius guard stops (an old store) and the operator forces; every day the purge and the
erasure jobs, as the scheduler runs them; erasure requests arrive over the month (one for a
seeker under a hold, who stays deferred), and a new lead of an erased seeker is stored
erased. A backup is taken on the third day. On the last day a request that came by post
forty days ago is typed in: overdue. Then the backup is restored beside the store, as after a
disaster: the guard refuses to run on it, `replay` puts back from the audit journal what the
backup lost, and the chain verifies against the anchors published before. Last, the report
of the month: printed as text, written as HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Unpack

from sqlalchemy import Engine

from jobs.erasure import ErasureRun, erasure_job
from jobs.purge import PurgeRun, purge_job
from jobs.registry import JOBS
from retention import clock
from retention.config import Settings
from retention.errors import GuardError, JournalError
from retention.reports.formats import RENDERERS
from retention.reports.model import Report
from retention.services.audit import (
    ChainReport,
    read_anchor_file,
    record_full_walk,
    verify_audit_chain,
)
from retention.services.demo import (
    HELD_DEMO_LEADS,
    DemoFiles,
    back_up_demo_store,
    build_demo_store,
    demo_phone_number,
    lead_holds_contact,
    restore_demo_backup,
    surviving_demo_leads,
    synthetic_leads,
)
from retention.services.holds import place_hold
from retention.services.importing import import_leads
from retention.services.lead_sources import SourceRecord
from retention.services.replay import ReplayResult, replay_journal
from retention.services.report import build_report, default_period
from retention.services.report_files import write_atomically
from retention.services.requests import add_request
from retention.services.store_summary import summarize_store
from retention.services.subjects import SubjectArgs
from retention.storage.engine import create_store_engine
from retention.storage.leads import LeadCounts

__all__ = ["BACKUP_DAY", "DEMO_DAYS", "DemoReport", "RestoreStory", "run_demo"]

DEMO_DAYS = 28  # the month played, inside the report's 30 days
BACKUP_DAY = 3  # after that day's runs


@dataclass(frozen=True, slots=True)
class RestoreStory:
    """The backup of day BACKUP_DAY restored and replayed from the audit journal."""

    backup_day: int
    refused: str  # what the guard said to a purge on the restored store before the replay
    replay: ReplayResult
    verified: ChainReport  # against every anchor published before the restore
    anchors: int
    lead_id: str  # a lead erased after the backup
    had_data: bool | None  # in the restored backup, before the replay
    has_data: bool | None  # after it


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What the demo did, for the command to tell."""

    path: Path
    before: LeadCounts
    guard_refusal: str | None
    first_purge: PurgeRun  # the forced catch-up of the first day
    purged_daily: int  # leads the daily purges deleted after it
    erasure_runs: tuple[ErasureRun, ...]  # the runs that did something
    suppressed_on_import: int
    after: LeadCounts  # at the end
    chain: ChainReport
    restore: RestoreStory
    report: Report
    html: Path


def run_demo(settings: Settings, path: Path, *, leads: int = 5000) -> DemoReport:
    now = clock.utcnow()
    first_day = (now - timedelta(days=DEMO_DAYS)).replace(hour=6, minute=0, second=0)
    store = build_demo_store(settings, path, now=first_day, leads=leads)
    engine, demo_settings = store.engine, store.settings
    try:
        with clock.simulated(first_day):
            before = summarize_store(engine)
            refusal, first_purge = _first_day(demo_settings, engine)
        files = DemoFiles.beside(path)
        month = _Month(demo_settings, engine)
        for day in range(1, DEMO_DAYS + 1):
            # The last day's runs now: the scheduler's purge leaves no backlog behind.
            with clock.simulated(first_day + timedelta(days=day) if day < DEMO_DAYS else now):
                month.play(day)
            if day == BACKUP_DAY:
                back_up_demo_store(files)
        with clock.simulated(now):
            # A request that came by post forty days ago, typed in today: overdue.
            survivor = month.survivors[2]
            add_request(demo_settings, engine, now=clock.utcnow(), reference="demo-letter",
                        received_at=now - timedelta(days=40),
                        email=f"demo.seeker.{survivor}@example.com")  # fmt: skip
        now = clock.utcnow()
        chain = verify_audit_chain(engine)
        record_full_walk(engine, chain, now)  # as the report job would have
        restore = _restore(demo_settings, files, month.erased_after_backup)
        report = build_report(demo_settings, engine, default_period(now, since=None, until=None),
                              now=now, jobs=tuple(JOBS))  # fmt: skip
        html = files.report
        write_atomically(html, RENDERERS["html"](report))
        return DemoReport(
            path=path,
            before=before,
            guard_refusal=refusal,
            first_purge=first_purge,
            purged_daily=month.purged,
            erasure_runs=tuple(month.erasures),
            suppressed_on_import=month.suppressed,
            after=summarize_store(engine),
            chain=chain,
            restore=restore,
            report=report,
            html=html,
        )
    finally:
        engine.dispose()


def _first_day(settings: Settings, engine: Engine) -> tuple[str | None, PurgeRun]:
    """Two holds on leads past their TTL (one on a lead, one on a seeker's email), then the
    first purge: the guard stops it, the operator, having checked, forces it."""
    now = clock.utcnow()
    place_hold(settings, engine, reason="demo: litigation", now=now, lead_id="demo-000003")
    place_hold(settings, engine, reason="demo: complaint under review", now=now,
               email="Demo.Seeker.7@example.com")  # fmt: skip
    try:
        return None, purge_job(settings, engine)
    except GuardError as refused:
        return str(refused), purge_job(settings, engine, force=True)


def _restore(settings: Settings, files: DemoFiles, lead_id: str) -> RestoreStory:
    """Restore the backup beside the store, try a purge on it, replay the journal, verify the
    chain against every anchor published before the restore."""
    anchors = read_anchor_file(files.anchors)
    restored_settings = restore_demo_backup(settings, files)
    engine = create_store_engine(restored_settings.database)
    try:
        had_data = lead_holds_contact(engine, lead_id)
        try:
            purge_job(restored_settings, engine)
        except JournalError as refused:
            refusal = str(refused)
        else:
            raise AssertionError("the guard let a purge run on a restored store")
        replayed = replay_journal(restored_settings, engine, files.journal, now=clock.utcnow())
        verified = verify_audit_chain(engine, anchors=anchors)
        has_data = lead_holds_contact(engine, lead_id)
    finally:
        engine.dispose()
    return RestoreStory(BACKUP_DAY, refusal, replayed, verified, len(anchors), lead_id,
                        had_data, has_data)  # fmt: skip


class _Month:
    """The days after the first: what arrives, then the jobs as the scheduler runs them."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings, self.engine = settings, engine
        self.survivors = [
            int(lead_id.split("-")[1])
            for lead_id in surviving_demo_leads(engine, limit=8)
            if int(lead_id.split("-")[1]) not in HELD_DEMO_LEADS
        ]
        self.purged = 0
        self.suppressed = 0
        self.erasures: list[ErasureRun] = []
        first, second = self.survivors[:2]
        self.erased_after_backup = f"demo-{second:06d}"  # by the phone request of day 5
        self._arrivals: dict[int, Callable[[], None]] = {
            2: lambda: self._request(
                email=f" Demo.Seeker.{first}@EXAMPLE.com", reference="demo-ticket-1"
            ),
            5: lambda: self._request(
                phone=demo_phone_number(engine, second), reference="demo-ticket-2"
            ),
            9: lambda: self._request(email="never.seen@example.com"),
            12: lambda: self._request(email="demo.seeker.7@example.com"),  # held: deferred
            20: lambda: self._later_lead(first),
        }

    def play(self, day: int) -> None:
        arrival = self._arrivals.get(day)
        if arrival is not None:
            arrival()
        purge = purge_job(self.settings, self.engine, check_first=True)
        if purge.result is not None:
            self.purged += purge.result.deleted
        erasure = erasure_job(self.settings, self.engine, check_first=True)
        if erasure.outcome.status != "idle":
            self.erasures.append(erasure)

    def _request(self, reference: str | None = None, **subject: Unpack[SubjectArgs]) -> None:
        add_request(self.settings, self.engine, now=clock.utcnow(), reference=reference,
                    **subject)  # fmt: skip

    def _later_lead(self, erased: int) -> None:
        """A new lead of a seeker erased earlier in the month: stored erased."""
        now = clock.utcnow()
        later = next(synthetic_leads(now, 1))
        later["metadata"]["leadId"] = "demo-later-000001"
        later["metadata"]["ingestionDate"] = int(now.timestamp()) - 60
        later["contactRequest"]["email"] = f"demo.seeker.{erased}@example.com"
        record = SourceRecord("demo", "later", value=later)
        self.suppressed += import_leads(
            self.settings, self.engine, [record], now=now
        ).erased_on_import

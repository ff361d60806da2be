"""`retention demo`: build a store of synthetic leads, place holds, run the purge, then queue
erasure requests and run the erasure job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from jobs.erasure import ErasureRun, erasure_job
from jobs.purge import PurgeRun, purge_job
from retention import clock
from retention.config import Settings
from retention.errors import GuardError
from retention.services.audit import ChainReport, verify_audit_chain
from retention.services.demo import (
    HELD_DEMO_LEADS,
    build_demo_store,
    demo_phone_number,
    surviving_demo_leads,
    synthetic_leads,
)
from retention.services.holds import place_hold
from retention.services.importing import import_leads
from retention.services.lead_sources import SourceRecord
from retention.services.requests import add_request
from retention.services.store_summary import summarize_store
from retention.storage.leads import LeadCounts

__all__ = ["DemoReport", "run_demo"]


@dataclass(frozen=True, slots=True)
class DemoReport:
    """What the demo did, for the command to tell."""

    path: Path
    before: LeadCounts
    guard_refusal: str | None
    purge: PurgeRun
    erasure: ErasureRun
    suppressed_on_import: int
    after: LeadCounts  # at the end
    chain: ChainReport


def run_demo(settings: Settings, path: Path, *, leads: int = 5000) -> DemoReport:
    now = clock.utcnow()
    store = build_demo_store(settings, path, now=now, leads=leads)
    engine = store.engine
    try:
        # Two holds on leads past their TTL: one on a lead, one on a seeker's email.
        place_hold(
            store.settings, engine, reason="demo: litigation", now=now, lead_id="demo-000003"
        )
        place_hold(
            store.settings, engine, reason="demo: complaint under review", now=now,
            email="Demo.Seeker.7@example.com",
        )  # fmt: skip
        before = summarize_store(engine)
        refusal = None
        try:
            run = purge_job(store.settings, engine)
        except GuardError as refused:
            # A first run on a store this old deletes a large share: the guard stops it, and
            # the operator, having checked, runs it again with --force.
            refusal = str(refused)
            run = purge_job(store.settings, engine, force=True)
        erasure, suppressed = _erasures(store.settings, engine, now)
        after = summarize_store(engine)  # at the end: the lead imported last counts too
        return DemoReport(
            path=path,
            before=before,
            guard_refusal=refusal,
            purge=run,
            erasure=erasure,
            suppressed_on_import=suppressed,
            after=after,
            chain=verify_audit_chain(engine),
        )
    finally:
        engine.dispose()


def _erasures(settings: Settings, engine: Engine, now: datetime) -> tuple[ErasureRun, int]:
    """Seekers ask for erasure: two by email and phone number, one with no leads, and the
    held seeker (deferred). The erasure job carries them out; then a new lead of an erased
    seeker arrives and is stored erased."""
    survivors = [int(i.split("-")[1]) for i in surviving_demo_leads(engine, limit=4)]
    first, second = [n for n in survivors if n not in HELD_DEMO_LEADS][:2]
    add_request(settings, engine, now=now, email=f" Demo.Seeker.{first}@EXAMPLE.com",
                reference="demo-ticket-1")  # fmt: skip
    number = demo_phone_number(engine, second)
    add_request(settings, engine, now=now, phone=number, reference="demo-ticket-2")
    add_request(settings, engine, now=now, email="never.seen@example.com")
    add_request(settings, engine, now=now, email="demo.seeker.7@example.com")  # held
    run = erasure_job(settings, engine)
    later = next(synthetic_leads(now, 1))
    later["metadata"]["leadId"] = "demo-later-000001"
    later["metadata"]["ingestionDate"] = int(now.timestamp()) - 60
    later["contactRequest"]["email"] = f"demo.seeker.{first}@example.com"
    imported = import_leads(settings, engine, [SourceRecord("demo", "later", value=later)], now=now)
    return run, imported.erased_on_import

"""`retention demo`: build a store of synthetic leads, place holds, run the purge."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from jobs.purge import PurgeRun, purge_job
from retention import clock
from retention.config import Settings
from retention.errors import GuardError
from retention.services.audit import ChainReport, verify_audit_chain
from retention.services.demo import build_demo_store
from retention.services.holds import place_hold
from retention.services.store_summary import summarize_store
from retention.storage.leads import LeadCounts

__all__ = ["DemoReport", "run_demo"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoReport:
    path: Path
    before: LeadCounts
    guard_refusal: str | None
    purge: PurgeRun
    after: LeadCounts
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
        return DemoReport(
            path=path,
            before=before,
            guard_refusal=refusal,
            purge=run,
            after=summarize_store(engine),
            chain=verify_audit_chain(engine),
        )
    finally:
        engine.dispose()

"""Synthetic leads for tests: example.com addresses, +336000000xx numbers, fake names."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from retention.storage.engine import READ_ONLY
from retention.storage.schema import metadata

YEAR = 365 * 24 * 3600
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())


def make_lead(
    n: int = 1, category: str = "CLASSIFIED", **metadata_overrides: Any
) -> dict[str, Any]:
    """A valid upstream lead object. `metadata_overrides` replace metadata fields."""
    ingestion = NOW_TS - 30 * 24 * 3600
    lead: dict[str, Any] = {
        "metadata": {
            "leadId": f"lead-{n:06d}",
            "ingestionDate": ingestion,
            "portal": "SLG-FRA",
            "TTL": ingestion + 3 * YEAR,
            "leadCategory": category,
        },
        "contactRequest": {
            "firstName": f"Prenom{n}",
            "lastName": f"Nomfictif{n}",
            "gender": "FEMALE",
            "email": f"seeker.{n}@example.com",
            "language": "FR",
            "phoneNumbers": [{"type": "MOBILE", "number": f"+336000{n:05d}", "verified": True}],
            "message": f"Message fictif numero {n}.",
            "isOwner": False,
        },
    }
    if category == "CLASSIFIED":
        lead["property"] = {"classifiedId": "01ABCDEFGH12", "offererEstateId": f"EST-{n}"}
    if category == "PROPERTY_SEARCH":
        lead["distributionType"] = ["BUYER"]
        lead["property"] = {"estateType": ["APARTMENT"], "budget": {"amountMax": 300000}}
    lead["metadata"].update(metadata_overrides)
    return lead


def with_contact(lead: dict[str, Any], **fields: Any) -> dict[str, Any]:
    changed = copy.deepcopy(lead)
    changed["contactRequest"].update(fields)
    return changed


def write_jsonl(path: Path, leads: Iterable[Any]) -> Path:
    path.write_text("".join(json.dumps(lead) + "\n" for lead in leads), encoding="utf-8")
    return path


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order: to prove nothing changed."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return {
            table.name: sorted(
                (tuple(repr(v) for v in row) for row in conn.execute(select(table))), key=repr
            )
            for table in metadata.sorted_tables
        }


def dump_text(engine: Engine) -> str:
    """All rows of all tables as one text, to search for values that must not be there."""
    return json.dumps(snapshot(engine))


def seed(
    settings: Any, engine: Engine, records: Iterable[Any], *, at: datetime | None = None
) -> int:
    """Import `records` as of `at` (default: a year before NOW), so that leads already due at
    NOW can be stored: history, so leads ingested after `at` are taken too (the import's
    future check is widened to ten years). Returns how many were imported."""
    import dataclasses

    from retention.services.importing import import_leads
    from retention.services.lead_sources import SourceRecord

    when = at or datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    history = dataclasses.replace(
        settings,
        retention=dataclasses.replace(settings.retention, max_clock_skew_seconds=10 * YEAR),
    )
    result = import_leads(
        history,
        engine,
        (SourceRecord("seed", f"item {i}", value=r) for i, r in enumerate(records, start=1)),
        now=when,
    )
    assert result.rejected == 0, [str(e) for e in result.errors]
    return result.imported


def due_lead(n: int, *, ttl_offset: int = -3600, **overrides: Any) -> dict[str, Any]:
    """A lead whose TTL is `ttl_offset` seconds from NOW (negative: due)."""
    return make_lead(n, TTL=NOW_TS + ttl_offset, ingestionDate=NOW_TS - 2 * YEAR, **overrides)


def fresh_lead(n: int, **overrides: Any) -> dict[str, Any]:
    """A lead far from due at NOW."""
    return make_lead(n, TTL=NOW_TS + YEAR, ingestionDate=NOW_TS - 3600, **overrides)


def audit_rows(engine: Engine, action: str | None = None) -> list[Any]:
    from retention.storage.schema import audit_events

    with engine.connect().execution_options(**READ_ONLY) as conn:
        statement = select(audit_events).order_by(audit_events.c.id)
        if action is not None:
            statement = statement.where(audit_events.c.action == action)
        return list(conn.execute(statement))


def lead_ids(engine: Engine) -> set[str]:
    from retention.storage.schema import leads

    with engine.connect().execution_options(**READ_ONLY) as conn:
        return set(conn.scalars(select(leads.c.lead_id)))


FROZEN_NOW_TEXT = "2026-01-15T12:00:00+00:00"


def run_concurrently(task: Any, copies: int) -> list[Any]:
    """Run `task()` in `copies` threads at once; return their results, or raise the first
    failure after all have ended."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=copies) as pool:
        futures = [pool.submit(task) for _ in range(copies)]
    return [future.result() for future in futures]

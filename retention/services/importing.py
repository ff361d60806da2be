"""`retention import`: validate upstream leads and upsert them, all or nothing by default.

The whole import is one transaction, written in batches of `import.batch_size`: invalid
records (without --skip-invalid), unreadable input, a dry run or any failure roll it back
whole, so the store is exactly as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from retention.config import Settings
from retention.domain.lead import Lead
from retention.domain.subjects import lead_subject_hashes
from retention.domain.validation import LeadFieldError, lead_id_of, validate_lead
from retention.services.lead_sources import SourceRecord
from retention.services.subject_key import subject_key_for_store
from retention.storage.leads import existing_lead_ids, replace_lead_subjects, upsert_leads

__all__ = ["ImportResult", "RecordError", "import_leads"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why one record was rejected: where it is and which field, never the field's value."""

    source: str
    position: str
    lead_id: str | None
    field: str
    problem: str

    def __str__(self) -> str:
        lead = f" lead {self.lead_id}:" if self.lead_id else ""
        return f"{self.source}: {self.position}:{lead} {self.field}: {self.problem}"


@dataclass(frozen=True, slots=True)
class ImportResult:
    imported: int
    updated: int
    rejected: int
    erased_on_import: int
    expired_on_arrival: int
    dry_run: bool
    written: bool
    errors: tuple[RecordError, ...]


@dataclass(slots=True)
class _Tally:
    imported: int = 0
    updated: int = 0
    rejected: int = 0
    expired: int = 0
    kept_erased: int = 0
    errors: list[RecordError] = field(default_factory=list)


class _Batch:
    """Valid leads waiting to be written; a lead id seen twice keeps its last version."""

    def __init__(self) -> None:
        self.leads: dict[str, Lead] = {}
        self.repeats = 0

    def add(self, lead: Lead) -> None:
        if lead.lead_id in self.leads:
            del self.leads[lead.lead_id]  # keep file order: the newest version goes last
            self.repeats += 1
        self.leads[lead.lead_id] = lead

    def __len__(self) -> int:
        return len(self.leads)


def _reject(tally: _Tally, error: RecordError, limit: int) -> None:
    tally.rejected += 1
    if len(tally.errors) < limit:
        tally.errors.append(error)


def _classify(record: SourceRecord) -> Lead | RecordError:
    if record.error is not None:
        return RecordError(record.source, record.position, None, "(record)", record.error)
    try:
        return validate_lead(record.value, plain_text=record.plain_text)
    except LeadFieldError as exc:
        return RecordError(
            record.source, record.position, lead_id_of(record.value), exc.field, exc.problem
        )


def import_leads(
    settings: Settings,
    engine: Engine,
    records: Iterable[SourceRecord],
    *,
    now: datetime,
    dry_run: bool = False,
    skip_invalid: bool = False,
) -> ImportResult:
    """Import `records`; see the module docstring for what is written when."""
    tally = _Tally()
    batch_size = settings.imports.batch_size
    limit = settings.imports.max_errors_listed

    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            key = subject_key_for_store(settings, conn)
            batch = _Batch()

            def flush() -> None:
                if not batch.leads:
                    return
                existing = existing_lead_ids(conn, batch.leads.keys())
                # A lead erased in the store stays erased: neither it nor its subject hashes
                # are rewritten from the incoming copy.
                writable = [lead for lead in batch.leads.values() if not existing.get(lead.lead_id)]
                upsert_leads(conn, writable, now=now)
                replace_lead_subjects(
                    conn,
                    [lead.lead_id for lead in writable],
                    [
                        (lead.lead_id, kind, digest)
                        for lead in writable
                        for kind, digest in sorted(lead_subject_hashes(key, lead))
                    ],
                )
                kept_erased = len(batch.leads) - len(writable)
                tally.imported += len(batch.leads) - len(existing)
                tally.updated += len(existing) - kept_erased + batch.repeats
                tally.kept_erased += kept_erased
                logger.debug("wrote a batch of %d leads", len(batch.leads))
                batch.leads.clear()
                batch.repeats = 0

            for record in records:
                outcome = _classify(record)
                if isinstance(outcome, RecordError):
                    _reject(tally, outcome, limit)
                    continue
                if outcome.ttl <= now:
                    tally.expired += 1
                    continue
                if tally.rejected and not skip_invalid:
                    continue  # nothing will be written: only validate the rest
                batch.add(outcome)
                if len(batch) >= batch_size:
                    flush()
            if tally.rejected and not skip_invalid:
                tally.imported = tally.updated = tally.kept_erased = 0
                transaction.rollback()
                written = False
            else:
                flush()
                written = not dry_run
                if dry_run:
                    transaction.rollback()
                else:
                    transaction.commit()
        finally:
            if transaction.is_active:
                transaction.rollback()

    result = ImportResult(
        imported=tally.imported,
        updated=tally.updated,
        rejected=tally.rejected,
        erased_on_import=tally.kept_erased,
        expired_on_arrival=tally.expired,
        dry_run=dry_run,
        written=written,
        errors=tuple(tally.errors),
    )
    logger.info(
        "import %s: %d imported, %d updated, %d rejected, %d expired on arrival",
        "committed" if written else ("dry run, rolled back" if dry_run else "rolled back"),
        result.imported,
        result.updated,
        result.rejected,
        result.expired_on_arrival,
    )
    return result

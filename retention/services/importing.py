"""`retention import`: validate upstream leads and upsert them, all or nothing by default.

The whole import is one transaction, written in batches of `import.batch_size`: invalid
records (without --skip-invalid), unreadable input, a dry run or any failure roll it back
whole, so the store is exactly as it was.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine

from retention.config import Settings
from retention.domain.erasure import ErasedFields, looks_erased_upstream
from retention.domain.lead import Lead
from retention.domain.subjects import lead_subject_hashes
from retention.domain.validation import LeadFieldError, lead_id_of, validate_lead
from retention.services.audit import Published, publish_head
from retention.services.erasure import erased_fields_of
from retention.services.import_erasure import ImportErasures
from retention.services.journal import refuse_if_restored
from retention.services.lead_sources import SourceRecord
from retention.services.policy import policy_of
from retention.services.residue import ERASURE_TABLES, clean_after
from retention.services.subject_key import subject_key_for_store
from retention.storage.dialect import bulk_insert
from retention.storage.engine import describe_error
from retention.storage.lead_writer import Row, lead_row, lead_writer
from retention.storage.leads import delete_lead_subjects

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
    hold_skipped: int
    dry_run: bool
    written: bool
    errors: tuple[RecordError, ...]
    published: Published | None = None  # when the import appended audit events


@dataclass(slots=True)
class _Tally:
    imported: int = 0
    updated: int = 0
    rejected: int = 0
    expired: int = 0
    kept_erased: int = 0
    errors: list[RecordError] = field(default_factory=list)


class _Batch:
    """Valid leads, with their JSON text, waiting to be written; a lead id seen twice keeps
    its last version."""

    def __init__(self) -> None:
        self.leads: dict[str, tuple[Lead, str]] = {}
        self.repeats = 0

    def add(self, lead: Lead, payload: str) -> None:
        if lead.lead_id in self.leads:
            del self.leads[lead.lead_id]  # keep file order: the newest version goes last
            self.repeats += 1
        self.leads[lead.lead_id] = (lead, payload)

    def __len__(self) -> int:
        return len(self.leads)


def _json_text(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _reject(tally: _Tally, error: RecordError, limit: int) -> None:
    tally.rejected += 1
    if len(tally.errors) < limit:
        tally.errors.append(error)


def _classify(record: SourceRecord, latest_ingestion: datetime) -> Lead | RecordError:
    if record.error is not None:
        return RecordError(record.source, record.position, None, "(record)", record.error)
    try:
        lead = validate_lead(record.value, plain_text=record.plain_text)
    except LeadFieldError as exc:
        return RecordError(
            record.source, record.position, lead_id_of(record.value), exc.field, exc.problem
        )
    if lead.ingestion_date > latest_ingestion:
        problem = (
            f"is in the future ({lead.ingestion_date:%Y-%m-%dT%H:%M:%SZ}, more than "
            "retention.max_clock_skew_seconds after this host's clock): a lead cannot have "
            "been ingested yet"
        )
        return RecordError(
            record.source, record.position, lead.lead_id, "metadata.ingestionDate", problem
        )
    return lead


# While an import runs, the interpreter switches threads every 0.2 ms instead of every 5 ms:
# when the database answers the writer thread, the parsing thread would otherwise keep the GIL
# for up to 5 ms while the server waits for its next rows (measured: 200,000 leads into
# PostgreSQL about 15% faster).
_SWITCH_INTERVAL = 0.0002


class _BatchWriter:
    """Writes batches on the import's connection from one background thread, so that the
    database works on one batch while the next is parsed and validated. At most one batch is
    in flight; the connection is only ever used by one thread at a time."""

    def __init__(
        self, conn: Connection, key: bytes, now: datetime, tally: _Tally, fields: ErasedFields
    ) -> None:
        self._conn = conn
        self._key = key
        self._now = now
        self._tally = tally
        self._writer = lead_writer(conn)
        self.erasures = ImportErasures(fields, key, now)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-writer")
        self._pending: Future[None] | None = None
        self._switch_interval: float | None = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_INTERVAL)

    def submit(self, batch: _Batch) -> None:
        """Hand the batch over (it is emptied); waits for the batch before it."""
        if not batch.leads:
            return
        rows = [
            (
                lead_row(lead, payload, self._now),
                [(kind, h) for kind, h in sorted(lead_subject_hashes(self._key, lead))],
            )
            for lead, payload in batch.leads.values()
        ]
        upstream = [
            lead.lead_id
            for lead, _ in batch.leads.values()
            if looks_erased_upstream(lead.payload.get("contactRequest") or {})
        ]
        repeats = batch.repeats
        batch.leads = {}
        batch.repeats = 0
        self.wait()
        self._pending = self._executor.submit(self._write, rows, repeats, upstream)

    def wait(self) -> None:
        """Wait for the batch in flight; its error, if any, is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Let the batch in flight end, whatever its outcome, and stop the thread."""
        try:
            self.wait()
        except Exception as exc:  # the import is being abandoned and rolled back anyway
            logger.warning(
                "a batch write failed while the import was abandoned: %s", describe_error(exc)
            )
        finally:
            self._executor.shutdown(wait=True)
            if self._switch_interval is not None:
                sys.setswitchinterval(self._switch_interval)
                self._switch_interval = None

    def _write(
        self, rows: list[tuple[Row, list[tuple[str, bytes]]]], repeats: int, upstream: list[str]
    ) -> None:
        conn = self._conn
        # Leads erased upstream that we hold with data are erased after the write; a held one
        # keeps our copy.
        candidates, held = self.erasures.upstream_candidates(conn, upstream)
        if held:
            rows = [item for item in rows if item[0][0] not in held]
        # A lead erased in the store stays erased: the writer leaves it alone, and its subject
        # hashes are not rewritten from the incoming copy either.
        outcome = self._writer.upsert(conn, [row for row, _ in rows])
        written = set(outcome.written)
        # After the upsert, whose row locks serialize concurrent imports of a lead.
        delete_lead_subjects(conn, outcome.replaced)
        bulk_insert(
            conn,
            "lead_subjects",
            ("lead_id", "kind", "subject_hash"),
            [
                (row[0], kind, h)
                for row, subjects in rows
                if row[0] in written
                for kind, h in subjects
            ],
        )
        self.erasures.after_write(
            conn, outcome.written, candidates, {row[0]: subjects for row, subjects in rows}
        )
        self._tally.imported += outcome.inserted
        self._tally.updated += outcome.updated + repeats
        self._tally.kept_erased += len(rows) - len(written)
        logger.debug("wrote a batch of %d leads", len(rows))


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
    policy = policy_of(settings)
    latest_ingestion = policy.latest_ingestion(now)
    due = policy.cutoffs(now)
    refuse_if_restored(settings, engine)

    with engine.connect() as conn:
        transaction = conn.begin()
        writer: _BatchWriter | None = None
        try:
            key = subject_key_for_store(settings, conn)
            writer = _BatchWriter(conn, key, now, tally, erased_fields_of(settings))
            batch = _Batch()
            for record in records:
                outcome = _classify(record, latest_ingestion)
                if isinstance(outcome, RecordError):
                    _reject(tally, outcome, limit)
                    continue
                # Due already, by either rule: the lead is not stored.
                if due.rule_of(outcome.ttl, outcome.ingestion_date) is not None:
                    tally.expired += 1
                    continue
                if tally.rejected and not skip_invalid:
                    continue  # nothing will be written: only validate the rest
                batch.add(outcome, record.text or _json_text(record.value))
                if len(batch) >= batch_size:
                    writer.submit(batch)
            if tally.rejected and not skip_invalid:
                writer.close()
                tally.imported = tally.updated = tally.kept_erased = 0
                writer.erasures.erased = writer.erasures.hold_skipped = 0
                transaction.rollback()
                written = False
            else:
                writer.submit(batch)
                writer.wait()
                writer.erasures.finish(conn)
                written = not dry_run
                if dry_run:
                    transaction.rollback()
                else:
                    transaction.commit()
        finally:
            if writer is not None:
                writer.close()
            if transaction.is_active:
                transaction.rollback()
    # SQLite: checkpoint the WAL, which holds the erased values' old pages. PostgreSQL: the
    # dead row versions are left for the next erasure job run to vacuum (a VACUUM of the
    # leads table does not belong in every import).
    erased = written and writer is not None and bool(writer.erasures.erased)
    clean_after(engine, ERASURE_TABLES, changed=erased, vacuum=False)
    head = writer.erasures.head if written and writer is not None else None
    published = None
    if head is not None:
        published = publish_head(settings, engine, head, source="import", run_id=None, when=now)
    result = ImportResult(
        imported=tally.imported,
        updated=tally.updated,
        rejected=tally.rejected,
        erased_on_import=tally.kept_erased + (writer.erasures.erased if writer else 0),
        expired_on_arrival=tally.expired,
        hold_skipped=writer.erasures.hold_skipped if writer else 0,
        dry_run=dry_run,
        written=written,
        errors=tuple(tally.errors),
        published=published,
    )
    logger.info(
        "import %s: %d imported, %d updated, %d rejected, %d erased on import, "
        "%d expired on arrival",
        "committed" if written else ("dry run, rolled back" if dry_run else "rolled back"),
        result.imported,
        result.updated,
        result.rejected,
        result.erased_on_import,
        result.expired_on_arrival,
    )
    return result

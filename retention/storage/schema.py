"""The tables (SPEC section 2). Changed only together with an Alembic revision."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from retention.domain.audit_chain import GENESIS_HASH
from retention.domain.lead import CATEGORIES
from retention.domain.requests import REQUEST_KINDS, REQUEST_SOURCES, REQUEST_STATUSES
from retention.domain.subjects import SUBJECT_KINDS
from retention.storage.types import JSONDocument, UTCDateTime

__all__ = [
    "GENESIS_HASH",
    "audit_counts",
    "audit_events",
    "audit_head",
    "erasure_requests",
    "job_checks",
    "job_runs",
    "lead_subjects",
    "leads",
    "legal_holds",
    "metadata",
    "store_meta",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK that `column` holds one of the domain's `values` (the migrations wrote them
    out; tests/test_migrations.py checks the schema still matches)."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


# Autoincrementing 64-bit ids; SQLite only autoincrements INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")
LEAD_ID = String(200)
HASH = LargeBinary(32)

leads = Table(
    "leads",
    metadata,
    Column("lead_id", LEAD_ID, primary_key=True),
    Column("category", String(20), nullable=False),
    Column("portal", String(16), nullable=False),
    Column("ingestion_date", UTCDateTime(), nullable=False),
    Column("ttl", UTCDateTime(), nullable=False),
    Column("first_name", String(100)),
    Column("last_name", String(100)),
    Column("name", Text),
    Column("gender", String(32)),
    Column("email", Text),
    Column("language", String(8)),
    Column("message", Text),
    Column("is_owner", Boolean),
    Column("phone_numbers", JSONDocument(), nullable=False),
    # The upstream object as received: json (text) on PostgreSQL, see JSONDocument.
    Column("payload", JSONDocument(binary=False), nullable=False),
    Column("imported_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("erased_at", UTCDateTime()),
    CheckConstraint(_one_of("category", CATEGORIES), name="category"),
    # The purge walks these in key order (keyset pagination), one per rule.
    Index(None, "ttl", "lead_id"),
    Index(None, "ingestion_date", "lead_id"),
)

# One row per identifier a lead carries, as HMAC-SHA256 of the normalized email or phone: the
# subject index holds no clear identifier.
lead_subjects = Table(
    "lead_subjects",
    metadata,
    Column("lead_id", LEAD_ID, ForeignKey("leads.lead_id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(8), primary_key=True),
    Column("subject_hash", HASH, primary_key=True),
    CheckConstraint(_one_of("kind", SUBJECT_KINDS), name="kind"),
    Index(None, "subject_hash"),
)

erasure_requests = Table(
    "erasure_requests",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False),
    Column("subject_hash", HASH, nullable=False),
    Column("subject", Text),  # the clear identifier, only while the request is open
    Column("received_at", UTCDateTime(), nullable=False),
    Column("due_at", UTCDateTime(), nullable=False),
    Column("completed_at", UTCDateTime()),
    Column("status", String(16), nullable=False),
    Column("leads_erased", Integer, nullable=False, server_default="0"),
    Column("source", String(16), nullable=False),
    Column("reference", Text),
    Column("error", Text),
    CheckConstraint(_one_of("kind", REQUEST_KINDS), name="kind"),
    CheckConstraint(_one_of("status", REQUEST_STATUSES), name="status"),
    CheckConstraint(_one_of("source", REQUEST_SOURCES), name="source"),
    Index(None, "status", "received_at"),
    Index(None, "subject_hash"),
)

legal_holds = Table(
    "legal_holds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("lead_id", LEAD_ID),
    Column("subject_kind", String(8)),
    Column("subject_hash", HASH),
    Column("reason", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime()),
    Column("released_at", UTCDateTime()),
    CheckConstraint(
        "(lead_id IS NULL AND subject_hash IS NOT NULL AND subject_kind IS NOT NULL)"
        " OR (lead_id IS NOT NULL AND subject_hash IS NULL AND subject_kind IS NULL)",
        name="target",
    ),
    Index(None, "lead_id"),
    Index(None, "subject_hash"),
)

_NAMES_A_REQUEST = text("request_id IS NOT NULL")

# Ids are the chain's positions, assigned by the writer that holds the head (head + 1, ...):
# two writers extending the same head would collide on the primary key, so the chain cannot
# fork, and every index of the table grows at its right edge.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("occurred_at", UTCDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("lead_id", LEAD_ID),
    Column("run_id", BigInteger),
    Column("request_id", BigInteger),
    # Canonical JSON text, hashed byte for byte: kept as text so no database reformats it.
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # What the report groups by, repeated from the details of lead.purged, lead.erased and
    # lead.hold_skipped (not hashed: `audit verify` checks they agree with the details).
    # reason: the erasure's reason, or the job that skipped a held lead.
    Column("category", String(20)),
    Column("portal", String(16)),
    Column("rule", String(8)),
    Column("reason", String(16)),
    Index(None, "lead_id"),
    Index(None, "run_id"),
    Index(None, "action", "occurred_at"),
    # A request's events (`requests show`); partial: most events (the purge's) name none.
    Index(None, "request_id", postgresql_where=_NAMES_A_REQUEST, sqlite_where=_NAMES_A_REQUEST),
)

# The chain head: one row, locked by every transaction that appends events, so concurrent
# writers append one after the other. Also lets `audit verify` notice a truncated chain.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("event_id", BigInteger),
    Column("hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="singleton"),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("job", String(32), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    Column("status", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("counts", JSONDocument(), nullable=False),
    Column("host", String(255)),
    Column("pid", Integer),
    # Which of the job's worker slots (purge.workers) the run held.
    Column("worker", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    CheckConstraint(
        "status IN ('running', 'succeeded', 'failed', 'skipped', 'interrupted')", name="status"
    ),
    Index(None, "job", "started_at"),
)

# The last idle check of each job: a run that looked and found nothing to do records no run
# and no audit event, only this heartbeat.
job_checks = Table(
    "job_checks",
    metadata,
    Column("job", String(32), primary_key=True),
    Column("checked_at", UTCDateTime(), nullable=False),
    Column("host", String(255)),
    Column("pid", Integer),
)

# How many events of each action the chain holds, kept by every append (storage/audit.py).
audit_counts = Table(
    "audit_counts",
    metadata,
    Column("action", String(32), primary_key=True),
    Column("events", BigInteger, nullable=False),
)

# Facts about the store itself, e.g. the fingerprint of the subject key it was built with.
store_meta = Table(
    "store_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

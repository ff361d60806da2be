"""The lead store: leads, their subject hashes, erasure requests, legal holds, audit events,
job runs and store facts.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from retention.storage.types import JSONDocument, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LEAD_ID = sa.String(200)
HASH = sa.LargeBinary(32)


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("lead_id", LEAD_ID, nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("portal", sa.String(16), nullable=False),
        sa.Column("ingestion_date", UTCDateTime(), nullable=False),
        sa.Column("ttl", UTCDateTime(), nullable=False),
        sa.Column("first_name", sa.String(100)),
        sa.Column("last_name", sa.String(100)),
        sa.Column("name", sa.Text()),
        sa.Column("gender", sa.String(32)),
        sa.Column("email", sa.Text()),
        sa.Column("language", sa.String(8)),
        sa.Column("message", sa.Text()),
        sa.Column("is_owner", sa.Boolean()),
        sa.Column("phone_numbers", JSONDocument(), nullable=False),
        sa.Column("payload", JSONDocument(), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("erased_at", UTCDateTime()),
        sa.CheckConstraint(
            "category IN ('CLASSIFIED', 'AGENCY', 'PROPERTY_SEARCH')",
            name=op.f("ck_leads_category"),
        ),
        sa.PrimaryKeyConstraint("lead_id", name=op.f("pk_leads")),
    )
    op.create_index(op.f("ix_leads_ttl"), "leads", ["ttl"])
    op.create_index(op.f("ix_leads_ingestion_date"), "leads", ["ingestion_date"])

    op.create_table(
        "lead_subjects",
        sa.Column("lead_id", LEAD_ID, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subject_hash", HASH, nullable=False),
        sa.CheckConstraint("kind IN ('email', 'phone')", name=op.f("ck_lead_subjects_kind")),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.lead_id"],
            name=op.f("fk_lead_subjects_lead_id_leads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("lead_id", "kind", "subject_hash", name=op.f("pk_lead_subjects")),
    )
    op.create_index(op.f("ix_lead_subjects_subject_hash"), "lead_subjects", ["subject_hash"])

    op.create_table(
        "erasure_requests",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("subject_hash", HASH, nullable=False),
        sa.Column("subject", sa.Text()),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("leads_erased", sa.Integer(), server_default="0", nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reference", sa.Text()),
        sa.Column("error", sa.Text()),
        sa.CheckConstraint(
            "kind IN ('email', 'phone', 'lead_id')", name=op.f("ck_erasure_requests_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'deferred', 'completed', 'failed')",
            name=op.f("ck_erasure_requests_status"),
        ),
        sa.CheckConstraint(
            "source IN ('cli', 'file', 'upstream', 'import')",
            name=op.f("ck_erasure_requests_source"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
    )
    op.create_index(
        op.f("ix_erasure_requests_status_received_at"),
        "erasure_requests",
        ["status", "received_at"],
    )
    op.create_index(op.f("ix_erasure_requests_subject_hash"), "erasure_requests", ["subject_hash"])

    op.create_table(
        "legal_holds",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("lead_id", LEAD_ID),
        sa.Column("subject_kind", sa.String(8)),
        sa.Column("subject_hash", HASH),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("released_at", UTCDateTime()),
        sa.CheckConstraint(
            "(lead_id IS NULL AND subject_hash IS NOT NULL AND subject_kind IS NOT NULL)"
            " OR (lead_id IS NOT NULL AND subject_hash IS NULL AND subject_kind IS NULL)",
            name=op.f("ck_legal_holds_target"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index(op.f("ix_legal_holds_lead_id"), "legal_holds", ["lead_id"])
    op.create_index(op.f("ix_legal_holds_subject_hash"), "legal_holds", ["subject_hash"])

    op.create_table(
        "audit_events",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("lead_id", LEAD_ID),
        sa.Column("run_id", sa.BigInteger()),
        sa.Column("request_id", sa.BigInteger()),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("prev_hash", name=op.f("uq_audit_events_prev_hash")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
    )
    op.create_index(op.f("ix_audit_events_lead_id"), "audit_events", ["lead_id"])
    op.create_index(op.f("ix_audit_events_run_id"), "audit_events", ["run_id"])
    op.create_index(
        op.f("ix_audit_events_action_occurred_at"), "audit_events", ["action", "occurred_at"]
    )

    op.create_table(
        "job_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("counts", JSONDocument(), nullable=False),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'skipped', 'interrupted')",
            name=op.f("ck_job_runs_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index(op.f("ix_job_runs_job_started_at"), "job_runs", ["job", "started_at"])

    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_meta")),
    )


def downgrade() -> None:
    for table in (
        "store_meta",
        "job_runs",
        "audit_events",
        "legal_holds",
        "erasure_requests",
        "lead_subjects",
        "leads",
    ):
        op.drop_table(table)

"""The purge: keyset indexes per rule, the audit chain head, worker slots of job runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def upgrade() -> None:
    op.drop_index("ix_leads_ttl", table_name="leads")
    op.drop_index("ix_leads_ingestion_date", table_name="leads")
    op.create_index(op.f("ix_leads_ttl_lead_id"), "leads", ["ttl", "lead_id"])
    op.create_index(op.f("ix_leads_ingestion_date_lead_id"), "leads", ["ingestion_date", "lead_id"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.BigInteger()),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_head_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.bulk_insert(head, [{"id": 1, "event_id": None, "hash": GENESIS_HASH}])
    # Events written before this revision (none are: nothing wrote them) would extend the head.
    op.execute(
        "UPDATE audit_head SET event_id = (SELECT max(id) FROM audit_events),"
        " hash = COALESCE((SELECT hash FROM audit_events"
        " WHERE id = (SELECT max(id) FROM audit_events)), hash)"
    )
    with op.batch_alter_table("job_runs") as batch:
        batch.add_column(sa.Column("worker", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("job_runs") as batch:
        batch.drop_column("worker")
    op.drop_table("audit_head")
    op.drop_index(op.f("ix_leads_ingestion_date_lead_id"), table_name="leads")
    op.drop_index(op.f("ix_leads_ttl_lead_id"), table_name="leads")
    op.create_index("ix_leads_ingestion_date", "leads", ["ingestion_date"])
    op.create_index("ix_leads_ttl", "leads", ["ttl"])

"""Heartbeats of idle checks, and the number of audit events per action.

`job_checks`: one row per job, the last time a run of it looked and found nothing to do (a
purge check every minute records no run and no audit event, only this). `audit_counts`: how
many events of each action the chain holds, kept with every append, so that the metrics'
totals (leads purged, erased) need no count over millions of events.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from retention.storage.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_checks",
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer()),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_job_checks")),
    )
    op.create_table(
        "audit_counts",
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("action", name=op.f("pk_audit_counts")),
    )
    op.execute(
        "INSERT INTO audit_counts (action, events) "
        "SELECT action, count(*) FROM audit_events GROUP BY action"
    )


def downgrade() -> None:
    op.drop_table("audit_counts")
    op.drop_table("job_checks")

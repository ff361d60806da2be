"""An index of audit_events by request, for `retention requests show`.

A request's evidence is every event naming it (request.received, lead.erased,
lead.hold_skipped, request.deferred, request.completed, request.failed): a few events among
tens of millions, found through this index instead of a scan of the table. The index is
partial (`request_id IS NOT NULL`, on SQLite and PostgreSQL alike): the purge's lead.purged
and the runs' events name no request, so the purge's hot path writes no entry to it and the
index stays the size of the requests' events. A query `request_id = :id` implies the
predicate on both databases, so it uses the index.

Building it reads audit_events once (on PostgreSQL under a lock that blocks writes to the
table meanwhile, as every migration here runs in one transaction): run `retention db
upgrade` while the jobs are stopped.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_NAMES_A_REQUEST = sa.text("request_id IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        op.f("ix_audit_events_request_id"),
        "audit_events",
        ["request_id"],
        postgresql_where=_NAMES_A_REQUEST,
        sqlite_where=_NAMES_A_REQUEST,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_events_request_id"), table_name="audit_events")

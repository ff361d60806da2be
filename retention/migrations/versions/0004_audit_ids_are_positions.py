"""Audit event ids are chain positions: drop the unique indexes on prev_hash and hash.

Writers now assign ids head + 1, ... under the head lock, so the primary key forbids a fork.
The two unique indexes on random 64-character hashes made every batch of events touch most
of their pages.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_constraint("uq_audit_events_prev_hash", type_="unique")
        batch.drop_constraint("uq_audit_events_hash", type_="unique")
    _restore_sqlite_triggers()


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.create_unique_constraint("uq_audit_events_hash", ["hash"])
        batch.create_unique_constraint("uq_audit_events_prev_hash", ["prev_hash"])
    _restore_sqlite_triggers()


def _restore_sqlite_triggers() -> None:
    """SQLite's batch mode rebuilds the table, which drops its triggers (revision 0003)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_no_{event.lower()}")
        op.execute(
            f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )

"""leads.payload is json (the text as received) on PostgreSQL, not jsonb.

The import writes every lead's upstream object as it arrived; jsonb made the server parse and
rebuild each one (about a tenth of the import's server time) for a column read back whole.
Queries that need the jsonb functions cast: `payload::jsonb`. SQLite already stores JSON text.

On PostgreSQL this rewrites the leads table under an exclusive lock.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

from retention.storage.types import JSONDocument

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "leads",
        "payload",
        type_=JSONDocument(binary=False),
        existing_type=JSONDocument(),
        existing_nullable=False,
        postgresql_using="payload::json",
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.alter_column(
        "leads",
        "payload",
        type_=JSONDocument(),
        existing_type=JSONDocument(binary=False),
        existing_nullable=False,
        postgresql_using="payload::jsonb",
    )

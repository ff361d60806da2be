"""What the compliance report groups by, as columns of audit_events; deadlines through the
end of their day.

`category`, `portal`, `rule` and `reason` repeat, for lead.purged, lead.erased and
lead.hold_skipped, what the event's details already hold (the details stay what the chain
hashes): the report counts millions of events with GROUP BY instead of parsing their details,
and `audit verify` checks that they agree with the details. `reason` is the erasure's reason
(request, suppression, upstream) for lead.erased and the skipping job (purge, erasure,
import) for lead.hold_skipped. Existing events are filled from their details, under the
append-only triggers' temporary absence.

A request is due through the end of the day one calendar month after it was received: every
`due_at` moves to 23:59:59 UTC of its day.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MESSAGE = "audit_events is append-only"
_FACETS = (("category", 20), ("portal", 16), ("rule", 8), ("reason", 16))


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, length in _FACETS:
        op.add_column("audit_events", sa.Column(name, sa.String(length)))
    _without_append_only_triggers(postgres, _fill_facets)
    if postgres:
        op.execute(
            "UPDATE erasure_requests SET due_at = (date_trunc('day', due_at AT TIME ZONE 'UTC')"
            " + interval '1 day' - interval '1 second') AT TIME ZONE 'UTC'"
        )
    else:
        op.execute(
            "UPDATE erasure_requests SET due_at = substr(due_at, 1, 10) || ' 23:59:59.000000'"
        )


def _fill_facets(postgres: bool) -> None:
    field = "(details::json ->> '{0}')" if postgres else "json_extract(details, '$.{0}')"
    op.execute(
        "UPDATE audit_events SET "
        + ", ".join(f"{name} = {field.format(name)}" for name in ("category", "portal", "rule"))
        + ", reason = CASE action WHEN 'lead.erased' THEN "
        + field.format("reason")
        + " WHEN 'lead.hold_skipped' THEN coalesce("
        + field.format("job")
        + ", 'purge') END"
        " WHERE action IN ('lead.purged', 'lead.erased', 'lead.hold_skipped')"
    )


def _without_append_only_triggers(postgres: bool, change: Callable[[bool], None]) -> None:
    if postgres:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        change(postgres)
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
        return
    op.execute("DROP TRIGGER audit_events_no_update")
    change(postgres)
    op.execute(
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
    )


def downgrade() -> None:
    # The deadlines stay at the end of their day: a later deadline is the safe side.
    for name, _ in reversed(_FACETS):
        op.drop_column("audit_events", name)  # SQLite 3.35+ drops a column in place

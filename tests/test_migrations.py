from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import Engine, insert, inspect, select, update

from retention.domain.audit_chain import GENESIS_HASH, seal
from retention.domain.events import LeadErased, LeadHoldSkipped, LeadPurged, RunStarted
from retention.services.audit import verify_audit_chain
from retention.services.schema import upgrade_schema
from retention.storage.engine import (
    SCHEMA_REVISION,
    alembic_config,
    current_revision,
    head_revision,
)
from retention.storage.schema import audit_events, audit_head, erasure_requests, metadata
from tests.factories import NOW


def test_upgrade_is_safe_to_repeat(engine: Engine) -> None:
    result = upgrade_schema(engine)
    assert not result.changed
    assert current_revision(engine) == head_revision()


def test_migrations_match_the_schema_module(engine: Engine) -> None:
    config = alembic_config()
    with engine.connect() as conn:
        config.attributes["connection"] = conn
        command.check(config)  # raises when the tables differ from storage/schema.py


def test_every_contract_table_exists_with_its_indexes(engine: Engine) -> None:
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables
    assert {"leads", "erasure_requests", "legal_holds", "audit_events", "job_runs"} <= tables
    lead_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("leads")}
    assert ("ttl", "lead_id") in lead_indexes
    assert ("ingestion_date", "lead_id") in lead_indexes
    subject_indexes = {tuple(ix["column_names"]) for ix in inspector.get_indexes("lead_subjects")}
    assert ("subject_hash",) in subject_indexes


def test_downgrade_to_empty_and_back(engine: Engine) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert "leads" not in inspect(engine).get_table_names()
    assert upgrade_schema(engine).changed
    assert current_revision(engine) == head_revision()


def test_the_schema_check_knows_the_newest_migration() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_0007_fills_the_report_columns_of_old_events_and_moves_deadlines(
    engine: Engine,
) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0006")
    drafts = [
        LeadPurged("AGENCY", "SLG-FRA", "ttl").draft(NOW, lead_id="L1", run_id=1),
        LeadHoldSkipped("purge", "NEW_HOME", "IMW-DEU", "ceiling").draft(NOW, lead_id="L2"),
        LeadErased("AGENCY", "IMB-BEL", ("email",), "suppression").draft(NOW, lead_id="L3"),
        LeadHoldSkipped("erasure").draft(NOW, lead_id="L4", request_id=1),
        RunStarted("purge").draft(NOW, run_id=1),
    ]
    sealed = list(seal(GENESIS_HASH, drafts))
    with engine.begin() as conn:  # as 0006 wrote them: no report columns
        for position, event in enumerate(sealed, 1):
            conn.execute(
                insert(audit_events).values(
                    id=position, occurred_at=event.draft.occurred_at, action=event.draft.action,
                    lead_id=event.draft.lead_id, run_id=event.draft.run_id,
                    request_id=event.draft.request_id, details=event.draft.details,
                    prev_hash=event.prev_hash, hash=event.hash,
                )
            )  # fmt: skip
        conn.execute(update(audit_head).values(event_id=len(sealed), hash=sealed[-1].hash))
        conn.execute(
            insert(erasure_requests).values(
                kind="email", subject_hash=b"h" * 32, received_at=NOW,
                due_at=NOW.replace(month=2, hour=9, minute=30), status="pending", source="cli",
            )
        )  # fmt: skip
    assert upgrade_schema(engine).changed
    with engine.connect() as conn:
        columns = [
            tuple(row)
            for row in conn.execute(
                select(
                    audit_events.c.category, audit_events.c.portal, audit_events.c.rule,
                    audit_events.c.reason,
                ).order_by(audit_events.c.id)
            )
        ]  # fmt: skip
        due = conn.execute(select(erasure_requests.c.due_at)).scalar_one()
    assert columns == [
        ("AGENCY", "SLG-FRA", "ttl", None),
        ("NEW_HOME", "IMW-DEU", "ceiling", "purge"),
        ("AGENCY", "IMB-BEL", None, "suppression"),
        (None, None, None, "erasure"),
        (None, None, None, None),
    ]
    assert due == datetime(2026, 2, 15, 23, 59, 59, tzinfo=UTC)
    assert verify_audit_chain(engine).ok  # filled columns agree with the details

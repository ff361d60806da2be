from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, inspect

from retention.services.schema import upgrade_schema
from retention.storage.engine import (
    SCHEMA_REVISION,
    alembic_config,
    current_revision,
    head_revision,
)
from retention.storage.schema import metadata


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

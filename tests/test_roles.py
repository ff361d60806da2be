"""Least privilege on PostgreSQL (deploy/postgres-roles.sql): the owner upgrades the schema,
the jobs and status run as roles that cannot rewrite the evidence."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from retention.services.demo import example_files
from tests.cli_helpers import json_out, run
from tests.conftest import TEST_KEY
from tests.factories import FROZEN_NOW_TEXT, due_lead, write_jsonl

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.postgres


@dataclass(frozen=True, slots=True)
class Roles:
    owner: str
    jobs: str
    readonly: str

    def url(self, base: str, role: str) -> str:
        parsed = make_url(base).set(username=role, password=None, query={})
        return parsed.render_as_string(hide_password=False)


@pytest.fixture
def roles_store(postgres_url: str) -> Iterator[tuple[str, Roles]]:
    """A database of its own, owned by an owner role that is not a superuser, and the roles
    file run by that owner (role names made unique: roles are cluster-wide)."""
    suffix = f"_{os.getpid()}"
    roles = Roles(f"retention_owner{suffix}", f"retention_jobs{suffix}",
                  f"retention_readonly{suffix}")  # fmt: skip
    database = f"retention_roles{suffix}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        for role in (roles.jobs, roles.readonly, roles.owner):
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        conn.execute(text(f'CREATE ROLE "{roles.owner}" LOGIN CREATEROLE'))
        conn.execute(text(f'CREATE DATABASE "{database}" OWNER "{roles.owner}"'))
    base = make_url(postgres_url).set(database=database).render_as_string(hide_password=False)
    try:
        yield base, roles
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            for role in (roles.jobs, roles.readonly, roles.owner):
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def _grant(base: str, roles: Roles) -> None:
    sql = (ROOT / "deploy" / "postgres-roles.sql").read_text()
    sql = sql.replace("retention_jobs", roles.jobs).replace("retention_readonly", roles.readonly)
    owner = create_engine(roles.url(base, roles.owner), isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        # Through the driver without parameters: the file's % (format's %I) stays literal.
        conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
    owner.dispose()


def test_the_jobs_and_status_run_as_least_privilege_roles(
    roles_store: tuple[str, Roles], tmp_path: Path
) -> None:
    base, roles = roles_store
    as_owner = {"RETENTION_DATABASE_URL": roles.url(base, roles.owner)}
    assert run(["db", "upgrade"], as_owner).exit_code == 0
    _grant(base, roles)
    jobs = {
        "RETENTION_DATABASE_URL": roles.url(base, roles.jobs),
        "RETENTION_SUBJECT_KEY": TEST_KEY,
    }
    readonly = {**jobs, "RETENTION_DATABASE_URL": roles.url(base, roles.readonly)}
    leads = write_jsonl(tmp_path / "due.jsonl", [due_lead(n) for n in range(1, 4)])
    with freeze_time("2025-06-01T00:00:00+00:00"):
        assert run(["import", *example_files(), str(leads)], jobs).exit_code == 0
    with freeze_time(FROZEN_NOW_TEXT):
        purged = run(["run", "purge", "--json"], jobs)
        assert purged.exit_code == 0, purged.output
        assert json_out(purged)["deleted"] == 3
        erased = run(["erase", "--email", "paul.exemple@example.com", "--json"], jobs)
        assert erased.exit_code == 0 and json_out(erased)["status"] == "completed"
        assert run(["requests", "add", "--email", "someone@example.com"], jobs).exit_code == 0
        job = run(["run", "erasure", "--json"], jobs)
        assert job.exit_code == 0, job.output
        residue = json_out(job)["residue"]
        assert residue is not None and residue["done"] is False and "owner" in residue["detail"]
        status = run(["status", "--check", "--json"], readonly)
        assert status.exit_code == 0, status.output
    assert run(["audit", "verify"], readonly).exit_code == 0


def test_the_jobs_role_cannot_change_or_delete_the_evidence(
    roles_store: tuple[str, Roles],
) -> None:
    base, roles = roles_store
    assert (
        run(["db", "upgrade"], {"RETENTION_DATABASE_URL": roles.url(base, roles.owner)}).exit_code
        == 0
    )
    _grant(base, roles)
    env = {"RETENTION_DATABASE_URL": roles.url(base, roles.jobs), "RETENTION_SUBJECT_KEY": TEST_KEY}
    assert run(["requests", "add", "--email", "someone@example.com"], env).exit_code == 0
    engine = create_engine(roles.url(base, roles.jobs))
    for statement in (
        "UPDATE audit_events SET action = 'lead.purged'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ):
        with engine.connect() as conn, pytest.raises(ProgrammingError) as refused:
            conn.execute(text(statement))
        assert "permission denied" in str(refused.value.orig), "refused by the grants"
    readonly = create_engine(roles.url(base, roles.readonly))
    with readonly.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
        conn.execute(text("DELETE FROM leads"))
    engine.dispose()
    readonly.dispose()

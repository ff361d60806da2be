"""Residue: deleted and erased values must not survive in the database files either.

SQLite runs with secure_delete (freed pages are zeroed); after a run that deleted or erased,
its WAL, which still holds old page images, is checkpointed and truncated. PostgreSQL: the
changed tables are vacuumed, so dead row versions are pruned; when that is turned off or not
allowed, the dead rows left are reported instead.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

__all__ = [
    "PostgresResidueCleaner",
    "ResidueReport",
    "SQLiteResidueCleaner",
    "clean_residue",
    "residue_pending",
]

logger = logging.getLogger(__name__)

_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


@dataclass(frozen=True, slots=True)
class ResidueReport:
    action: str  # "wal_checkpoint", "vacuum", or "none"
    done: bool
    dead_rows: int | None = None
    detail: str | None = None

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


class SQLiteResidueCleaner:
    def pending(self, engine: Engine, tables: Sequence[str], *, sweep: bool) -> bool:
        return sweep

    def clean(self, engine: Engine, tables: Sequence[str], *, vacuum: bool) -> ResidueReport:
        with engine.connect().execution_options(**_AUTOCOMMIT) as conn:
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        if busy:
            logger.warning("WAL checkpoint incomplete: a reader held it; the next run retries")
            return ResidueReport("wal_checkpoint", False, detail="a reader held the WAL")
        return ResidueReport("wal_checkpoint", True)


class PostgresResidueCleaner:
    def pending(self, engine: Engine, tables: Sequence[str], *, sweep: bool) -> bool:
        return bool(self._dead_rows(engine, tables))

    def clean(self, engine: Engine, tables: Sequence[str], *, vacuum: bool) -> ResidueReport:
        if not vacuum:
            return ResidueReport("none", False, dead_rows=self._dead_rows(engine, tables))
        try:
            with engine.connect().execution_options(**_AUTOCOMMIT) as conn:
                if not self._may_vacuum(conn, tables):
                    # PostgreSQL would skip them with a warning only (a least-privilege role).
                    reason = "VACUUM needs the tables' owner: the dead rows are left to autovacuum"
                    logger.warning("%s", reason)
                    return ResidueReport("vacuum", False, self._dead_rows(engine, tables), reason)
                for table in tables:
                    conn.exec_driver_sql(f'VACUUM "{table}"')
        except DBAPIError as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else type(exc).__name__
            logger.warning("VACUUM failed (%s): dead rows are left until autovacuum", reason)
            return ResidueReport("vacuum", False, self._dead_rows(engine, tables), reason)
        return ResidueReport("vacuum", True, self._dead_rows(engine, tables))

    @staticmethod
    def _may_vacuum(conn: Connection, tables: Sequence[str]) -> bool:
        """Whether this role owns every table (or may maintain it, PostgreSQL 17)."""
        maintain = (
            "has_table_privilege(c.oid, 'MAINTAIN')"
            if (conn.dialect.server_version_info or (0,)) >= (17,)
            else "false"
        )
        allowed = conn.scalar(
            text(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = ANY(:tables) AND n.nspname = current_schema() "
                f"AND (pg_has_role(c.relowner, 'USAGE') OR {maintain})"
            ),
            {"tables": list(tables)},
        )
        return int(allowed or 0) == len(tables)

    @staticmethod
    def _dead_rows(engine: Engine, tables: Sequence[str]) -> int | None:
        with engine.connect() as conn:
            value = conn.scalar(
                text(
                    "SELECT COALESCE(SUM(n_dead_tup), 0) FROM pg_stat_user_tables "
                    "WHERE relname = ANY(:tables) AND schemaname = current_schema()"
                ),
                {"tables": list(tables)},
            )
        return int(value) if value is not None else None


def _cleaner(engine: Engine) -> SQLiteResidueCleaner | PostgresResidueCleaner:
    if engine.dialect.name == "postgresql":
        return PostgresResidueCleaner()
    return SQLiteResidueCleaner()


def residue_pending(engine: Engine, tables: Sequence[str], *, sweep: bool = True) -> bool:
    """Whether a cleanup may have work. PostgreSQL: when the tables have dead rows (as the
    statistics count them). SQLite: always for a sweep (a checkpoint of an empty WAL costs
    nothing), never for an idle check (every erasure and deletion checkpoints at once)."""
    return _cleaner(engine).pending(engine, tables, sweep=sweep)


def clean_residue(engine: Engine, tables: Sequence[str], *, vacuum: bool) -> ResidueReport:
    """Clean what a run that changed `tables` may have left behind."""
    return _cleaner(engine).clean(engine, tables, vacuum=vacuum)

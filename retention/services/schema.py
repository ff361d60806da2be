"""Creating and upgrading the schema through Alembic."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from alembic import command
from sqlalchemy import Engine

from retention.storage.engine import (
    alembic_config,
    check_schema_known,
    current_revision,
    head_revision,
)
from retention.storage.locks import TransactionLock, take_transaction_lock

__all__ = ["SchemaUpgrade", "upgrade_schema"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SchemaUpgrade:
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


def upgrade_schema(engine: Engine) -> SchemaUpgrade:
    """Bring the schema to the newest revision; nothing happens when it already is."""
    before = current_revision(engine)
    with engine.begin() as conn:
        take_transaction_lock(conn, TransactionLock.SCHEMA)
        # Under the lock: a newer version of the tool may have upgraded it meanwhile.
        check_schema_known(current_revision(engine))
        config = alembic_config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    after = current_revision(engine)
    if before != after:
        logger.info("schema upgraded from %s to %s", before or "(empty)", after)
    else:
        logger.info("schema already at %s", after)
    assert after == head_revision()
    return SchemaUpgrade(before=before, after=after)

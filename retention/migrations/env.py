"""Alembic environment. `retention db upgrade` hands over its connection in
config.attributes["connection"]; the plain `alembic` command uses RETENTION_DATABASE_URL."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, create_engine

from retention.storage.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = os.environ.get("RETENTION_DATABASE_URL", "sqlite:///retention.db")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()

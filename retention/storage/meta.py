"""Facts about the store itself (table store_meta)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from retention.storage.dialect import insert_for
from retention.storage.schema import store_meta

__all__ = ["get_meta", "set_meta", "set_meta_once"]


def get_meta(conn: Connection, key: str) -> str | None:
    value: str | None = conn.scalar(select(store_meta.c.value).where(store_meta.c.key == key))
    return value


def set_meta_once(conn: Connection, key: str, value: str) -> str:
    """Record `value` under `key` unless a value is already there; return the stored value."""
    conn.execute(
        insert_for(conn, store_meta)
        .values(key=key, value=value)
        .on_conflict_do_nothing(index_elements=[store_meta.c.key])
    )
    stored = get_meta(conn, key)
    assert stored is not None
    return stored


def set_meta(conn: Connection, key: str, value: str) -> None:
    """Record `value` under `key`, replacing any value there."""
    upsert = insert_for(conn, store_meta).values(key=key, value=value)
    conn.execute(
        upsert.on_conflict_do_update(
            index_elements=[store_meta.c.key], set_={"value": upsert.excluded.value}
        )
    )

"""What the erasure tests (test_erasure*.py) share: the frozen clock, a seeker's values,
leads and requests read back, `retention erase`, and a rogue trigger for the verification
to catch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine, select, text

from retention.services.observer import BatchStats, RunObserver
from retention.storage.engine import READ_ONLY
from retention.storage.schema import erasure_requests, leads
from tests.cli_helpers import run
from tests.factories import FROZEN_NOW_TEXT


@pytest.fixture(autouse=True)
def _frozen(engine: Engine) -> Iterator[None]:
    # After the store is open: the database driver is loaded under the real clock.
    with freeze_time(FROZEN_NOW_TEXT):
        yield


def _values_of(n: int) -> list[str]:
    """Every personal value make_lead(n) carries, as it would show up in a dump."""
    return [
        f"Prenom{n}",
        f"Nomfictif{n}",
        f"seeker.{n}@example.com",
        f"6000{n:05d}",  # the phone's digits, whatever the format around them
        f"Message fictif numero {n}",
    ]


def _lead_row(engine: Engine, lead_id: str) -> Any:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return conn.execute(select(leads).where(leads.c.lead_id == lead_id)).one()


def _requests(engine: Engine) -> list[Any]:
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return list(conn.execute(select(erasure_requests).order_by(erasure_requests.c.id)))


def _erase(environ: dict[str, str], *args: str) -> Any:
    return run(["erase", *args], environ)


def _now() -> Any:
    from retention import clock

    return clock.utcnow()


def _install_restoring_trigger(engine: Engine, column: str = "first_name") -> None:
    """A rogue trigger that puts lead-000001's `column` (a name, or the stored JSON) back
    after every update: the kind of thing the verification exists to catch."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION restore_name() RETURNS trigger AS $$ BEGIN "
                    f"IF OLD.lead_id = 'lead-000001' THEN NEW.{column} := OLD.{column}; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER restore_name BEFORE UPDATE ON leads FOR EACH ROW "
                    "EXECUTE FUNCTION restore_name()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER restore_name AFTER UPDATE ON leads "
                    "WHEN NEW.lead_id = 'lead-000001' "
                    f"BEGIN UPDATE leads SET {column} = OLD.{column} "
                    "WHERE lead_id = NEW.lead_id; END"
                )
            )


def _drop_restoring_trigger(engine: Engine) -> None:
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER restore_name ON leads"))
            conn.execute(text("DROP FUNCTION restore_name()"))
        else:
            conn.execute(text("DROP TRIGGER restore_name"))


class _OnBatch(RunObserver):
    def __init__(self, call: Callable[[BatchStats], None]) -> None:
        self._call = call

    def batch_done(self, stats: BatchStats) -> None:
        self._call(stats)


def on_batch(call: Callable[[BatchStats], None]) -> RunObserver:
    """An observer calling `call` after each batch."""
    return _OnBatch(call)

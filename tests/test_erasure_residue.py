"""What an erasure leaves behind: no personal data in audit events, run rows, logs or errors;
no erased value in the SQLite files (secure_delete, a checkpoint), no dead row on PostgreSQL
(a vacuum). Both databases."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, select, text

from jobs.erasure import erasure_job
from retention.config import Settings
from retention.services.requests import add_request
from retention.storage.schema import job_runs
from tests.cli_helpers import json_out, run
from tests.erasure_helpers import _erase, _now, _values_of
from tests.erasure_helpers import _frozen as _frozen  # autouse: every test under the frozen clock
from tests.factories import fresh_lead, seed

# --- personal data stays out of everything but the leads ---------------------------------


def test_no_personal_data_in_audit_job_runs_logs_or_errors(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [fresh_lead(1), fresh_lead(2)])
    outputs = []
    for args in (
        ["erase", "--email", "seeker.1@example.com", "--reference", "T-1"],
        ["requests", "add", "--phone", "+33600000002"],
        ["requests", "add", "--email", "seeker.3@example.com"],
        ["requests", "list"],
        ["requests", "list", "--json"],
        ["run", "erasure"],
        ["run", "erasure", "--json"],
        ["erase", "--phone", "06 00 00 00 02"],  # refused: no --region
        ["erase", "--email", "seeker.2@example.com", "--dry-run"],
    ):
        result = run(["-v", "--log-format", "json", *args], environ)
        outputs.append(result.stdout + result.stderr)
    text_seen = "\n".join(outputs).lower()
    with engine.connect() as conn:
        audit_text = json.dumps([tuple(map(str, row)) for row in conn.execute(text(
            "SELECT * FROM audit_events"))]).lower()  # fmt: skip
        runs_text = json.dumps([tuple(map(str, row)) for row in conn.execute(select(job_runs))])
    for n in (1, 2, 3):
        for value in _values_of(n):
            if value.startswith("Message"):
                continue
            assert value.lower() not in text_seen, value
            assert value.lower() not in audit_text, value
            assert value.lower() not in runs_text.lower(), value
    assert "600000002" not in text_seen and "06 00 00 00 02" not in text_seen


# --- residue -----------------------------------------------------------------------------


def test_erased_values_leave_no_residue(settings: Settings, engine: Engine) -> None:
    """SQLite: neither the database file nor its WAL holds an erased value (secure_delete,
    then a checkpoint). PostgreSQL: the changed tables are vacuumed, no dead row is left."""
    seed(settings, engine, [fresh_lead(n) for n in range(1, 40)])
    add_request(settings, engine, now=_now(), email="seeker.7@example.com")
    done = erasure_job(settings, engine)
    assert done.residue is not None and done.residue.done
    if engine.dialect.name == "postgresql":
        assert (done.residue.action, done.residue.dead_rows) == ("vacuum", 0)
        return
    assert done.residue.action == "wal_checkpoint"
    database = Path(str(engine.url.database))
    raw = b"".join(
        path.read_bytes() for path in database.parent.glob(database.name + "*") if path.is_file()
    )
    for value in _values_of(7):
        assert value.encode() not in raw, value
    assert b"Prenom8" in raw  # the check can see what is there


def test_a_single_erase_leaves_no_value_in_the_sqlite_files(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(n) for n in range(1, 30)])
    document = json_out(_erase(environ, "--email", "seeker.5@example.com", "--json"))
    residue = document["residue"]
    if engine.dialect.name == "postgresql":
        # Left to the next erasure run's VACUUM, and said so.
        assert residue["action"] == "none" and residue["dead_rows"] >= 0
        done = erasure_job(settings, engine)
        assert done.residue is not None and done.residue.action == "vacuum"
        return
    assert residue == {"action": "wal_checkpoint", "dead_rows": None, "detail": None, "done": True}
    database = Path(str(engine.url.database))
    raw = b"".join(
        path.read_bytes() for path in database.parent.glob(database.name + "*") if path.is_file()
    )
    assert all(value.encode() not in raw for value in _values_of(5))

"""Legal holds by hand: place, release (once), dry runs; every command that appends events
publishes its chain head (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from retention.config import Settings
from tests.cli_helpers import json_out, run
from tests.factories import FROZEN_NOW_TEXT, audit_rows, fresh_lead, seed, snapshot


@pytest.fixture(autouse=True)
def _frozen(engine: Engine) -> Iterator[None]:
    with freeze_time(FROZEN_NOW_TEXT):
        yield


def test_releasing_a_released_hold_says_so_and_changes_nothing(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    placed = json_out(run(["hold", "place", "--lead-id", "lead-000001", "--reason", "case 1",
                           "--json"], environ))  # fmt: skip
    hold_id = placed["hold_id"]
    first = run(["hold", "release", str(hold_id), "--json"], environ)
    assert first.exit_code == 0 and json_out(first)["changed"] is True
    before = snapshot(engine)
    again = run(["hold", "release", str(hold_id)], environ)
    assert again.exit_code == 0
    assert again.stdout.startswith(f"hold {hold_id} was released already (")
    assert "nothing changed" in again.stdout
    assert snapshot(engine) == before
    assert len(audit_rows(engine, "hold.released")) == 1
    again_json = json_out(run(["hold", "release", str(hold_id), "--json"], environ))
    assert (again_json["changed"], again_json["audit_head"]) == (False, None)


def test_releasing_an_unknown_hold_is_exit_2(environ: dict[str, str]) -> None:
    result = run(["hold", "release", "42"], environ)
    assert (result.exit_code, result.stderr.strip()) == (2, "error: hold 42: no such hold")


@pytest.mark.parametrize(
    "command",
    [
        ["hold", "place", "--email", "seeker.1@example.com", "--reason", "case 1"],
        ["hold", "place", "--lead-id", "lead-000001", "--reason", "case 1"],
        ["requests", "add", "--email", "seeker.1@example.com"],
        ["requests", "add", "--lead-id", "lead-000001"],
    ],
    ids=["hold-subject", "hold-lead", "request-email", "request-lead"],
)
def test_a_dry_run_of_a_hold_or_a_request_records_nothing(
    settings: Settings, engine: Engine, environ: dict[str, str], command: list[str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    before = snapshot(engine)
    result = run([*command, "--dry-run", "--json"], environ)
    assert result.exit_code == 0, result.output
    out = json_out(result)
    assert out["dry_run"] is True and out["audit_head"] is None
    assert snapshot(engine) == before
    real = json_out(run([*command, "--json"], environ))
    assert real["dry_run"] is False and real["audit_head"] is not None
    assert snapshot(engine) != before


def test_a_dry_run_release_records_nothing(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    placed = json_out(run(["hold", "place", "--lead-id", "lead-000001", "--reason", "r",
                           "--json"], environ))  # fmt: skip
    before = snapshot(engine)
    dry = run(["hold", "release", str(placed["hold_id"]), "--dry-run", "--json"], environ)
    assert json_out(dry)["changed"] is True and json_out(dry)["released_at"] is None
    assert snapshot(engine) == before


def test_a_hold_on_a_lead_not_in_the_store_is_placed_with_a_warning(
    environ: dict[str, str],
) -> None:
    result = run(["hold", "place", "--lead-id", "lead-000404", "--reason", "r", "--json"],
                 environ)  # fmt: skip
    assert result.exit_code == 0
    assert json_out(result)["lead_in_store"] is False
    assert "lead lead-000404 is not in the store" in result.stderr
    present = run(["hold", "place", "--email", "x@example.com", "--reason", "r", "--json"],
                  environ)  # fmt: skip
    assert json_out(present)["lead_in_store"] is None


@pytest.mark.parametrize(
    ("command", "source"),
    [
        (["erase", "--email", "seeker.1@example.com"], "erase"),
        (["hold", "place", "--lead-id", "lead-000001", "--reason", "r"], "hold place"),
        (["requests", "add", "--email", "seeker.1@example.com"], "requests add"),
        (["import", "UPSTREAM"], "import"),
        (["hold", "release", "HOLD"], "hold release"),
        (["requests", "import", "CSV"], "requests import"),
    ],
    ids=["erase", "hold", "requests", "import", "release", "requests-import"],
)
def test_every_command_that_appends_events_publishes_its_head(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path,
    command: list[str], source: str,
) -> None:  # fmt: skip
    from retention.services.demo import example_files

    seed(settings, engine, [fresh_lead(1)])
    anchors = tmp_path / "anchors.txt"
    config = tmp_path / "anchor.toml"
    config.write_text(f'[audit]\nanchor_file = "{anchors}"\n')
    # The upstream-erased example lead makes the import append events; the hold to release
    # is placed before, without the anchor file.
    placed = run(["hold", "place", "--lead-id", "lead-000001", "--reason", "r", "--json"], environ)
    csv = tmp_path / "requests.csv"
    csv.write_text("kind,value,received_at,reference\nemail,seeker.1@example.com,,T-1\n")
    stand_ins = {"UPSTREAM": [*example_files()], "HOLD": [str(json_out(placed)["hold_id"])],
                 "CSV": [str(csv)]}  # fmt: skip
    command = [a for c in command for a in stand_ins.get(c, [c])]
    result = run([*command, "--json"], {**environ, "RETENTION_CONFIG": str(config)})
    assert result.exit_code == 0, result.output
    head = json_out(result)["audit_head"]
    (line,) = anchors.read_text().splitlines()
    assert line.endswith(f" {source} - {head['event_id']}:{head['hash']}")
    assert f"{head['event_id']}:{head['hash']}" in result.stderr  # the log line
    verified = run(["audit", "verify", "--anchor", f"{head['event_id']}:{head['hash']}"], environ)
    assert verified.exit_code == 0

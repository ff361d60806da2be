"""Identifiers a person types: a phone region that is not one must not silently find no one,
and a lead id is checked like an imported one (both databases)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from retention.config import Settings
from tests.cli_helpers import json_out, run
from tests.factories import FROZEN_NOW_TEXT, fresh_lead, seed, snapshot

NATIONAL = "06 00 00 00 01"  # fresh_lead(1)'s +33600000001 as a French seeker types it


@pytest.fixture(autouse=True)
def _frozen(engine: Engine) -> Iterator[None]:
    with freeze_time(FROZEN_NOW_TEXT):
        yield


@pytest.mark.parametrize(
    ("region", "found"),
    [("FR", 1), ("fr", 1), ("FRA", 1), ("DE", 0)],
    ids=["FR", "lower-case", "portal-code-FRA", "another-country"],
)
def test_a_national_number_is_read_with_the_region_given(
    settings: Settings, engine: Engine, environ: dict[str, str], region: str, found: int
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    result = run(["erase", "--phone", NATIONAL, "--region", region, "--dry-run", "--json"],
                 environ)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json_out(result)["leads_erased"] == found


@pytest.mark.parametrize("region", ["France", "XX", "FRANCE", "F", ""])
@pytest.mark.parametrize(
    "command",
    [
        ["erase", "--phone", NATIONAL],
        ["erase", "--phone", NATIONAL, "--dry-run"],
        ["requests", "add", "--phone", NATIONAL],
        ["hold", "place", "--phone", NATIONAL, "--reason", "case 7"],
    ],
    ids=["erase", "erase-dry-run", "requests-add", "hold-place"],
)
def test_an_unknown_region_is_refused_naming_the_accepted_values(
    settings: Settings, engine: Engine, environ: dict[str, str], region: str, command: list[str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    before = snapshot(engine)
    result = run([*command, "--region", region], environ)
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert line.startswith("error: --region: ") and "\n" not in line
    assert "FR, DE, BE, AT" in line and "FRA" in line
    assert snapshot(engine) == before


def test_a_request_file_with_an_unknown_region_is_refused_whole(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    csv = tmp_path / "requests.csv"
    csv.write_text(f"phone,{NATIONAL},,\nemail,someone@example.com,,\n")
    before = snapshot(engine)
    result = run(["requests", "import", str(csv), "--region", "France"], environ)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --region: 'France' is not a country code")
    assert snapshot(engine) == before
    accepted = run(["requests", "import", str(csv), "--region", "FRA", "--json"], environ)
    assert json_out(accepted)["added"] == 2


@pytest.mark.parametrize(
    ("lead_id", "problem"),
    [
        ("lead\x1f000001", "contains spaces or control characters"),
        ("lead 000001\n2", "contains spaces or control characters"),
        ("x" * 201, "is longer than 200 characters"),
        ("   ", "must not be blank"),
    ],
    ids=["unit-separator", "newline", "too-long", "blank"],
)
@pytest.mark.parametrize("command", [["erase"], ["hold", "place", "--reason", "case 7"]])
def test_a_lead_id_typed_by_hand_is_checked_like_an_imported_one(
    settings: Settings,
    engine: Engine,
    environ: dict[str, str],
    lead_id: str,
    problem: str,
    command: list[str],
) -> None:
    """No control character reaches the audit chain, whose fields are joined by one."""
    seed(settings, engine, [fresh_lead(1)])
    before = snapshot(engine)
    result = run([*command, "--lead-id", lead_id], environ)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: --lead-id: {problem}"
    assert snapshot(engine) == before


def test_a_lead_id_with_spaces_around_it_is_trimmed(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [fresh_lead(1)])
    result = run(["erase", "--lead-id", " lead-000001 ", "--json"], environ)
    assert result.exit_code == 0, result.output
    assert json_out(result)["lead_ids"] == ["lead-000001"]


def test_a_request_row_with_several_bad_columns_names_each(
    environ: dict[str, str], tmp_path: Path
) -> None:
    csv = tmp_path / "requests.csv"
    csv.write_text("kind,value,received_at,reference\nfax,123,yesterday,\n")
    result = run(["requests", "import", str(csv)], environ)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: 1 bad request row(s), nothing queued: requests.csv: line 2: kind: must be one "
        "of email, phone, lead_id; received_at: not a date (YYYY-MM-DD) or an ISO 8601 date-time"
    )

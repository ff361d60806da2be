from __future__ import annotations

import json
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from retention.services.demo import example_files
from tests.cli_helpers import json_out, run
from tests.factories import NOW_TS, make_lead, snapshot, with_contact, write_json, write_jsonl


def test_import_json_has_the_spec_keys(environ: dict[str, str], tmp_path: Path) -> None:
    result = run(["import", "--json", *example_files()], environ)
    assert result.exit_code == 0, result.stderr
    out = json_out(result)
    assert {"imported", "updated", "rejected", "erased_on_import", "expired_on_arrival"} <= set(out)
    assert (out["imported"], out["updated"], out["rejected"]) == (5, 0, 0)
    # One example lead arrives erased upstream: it is stored erased, and stays so.
    assert out["erased_on_import"] == 1
    again = json_out(run(["import", "--json", *example_files()], environ))
    assert (again["imported"], again["updated"], again["erased_on_import"]) == (0, 4, 1)


def test_import_reads_stdin(environ: dict[str, str]) -> None:
    stdin = (json.dumps(make_lead(1)) + "\n" + json.dumps(make_lead(2)) + "\n").encode()
    result = run(["import", "--json", "-"], environ, stdin=stdin)
    assert result.exit_code == 0, result.stderr
    assert json_out(result)["imported"] == 2


def test_invalid_records_exit_2_with_one_line_each_and_no_personal_data(
    environ: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    before = snapshot(engine)
    bad_gender = with_contact(make_lead(2), gender="Zorglub", firstName="Zorglub")
    bad_ttl = make_lead(3, TTL="soon")
    path = write_jsonl(tmp_path / "leads.jsonl", [make_lead(1), bad_gender, bad_ttl])
    result = run(["import", str(path)], environ)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("invalid:")]
    genders = "MALE, FEMALE, OTHER, PREFER_NOT_TO_DISCLOSE"
    gender_line = f"invalid: {path}: line 2: lead lead-000002: contactRequest.gender"
    ttl_line = f"invalid: {path}: line 3: lead lead-000003: metadata.TTL"
    assert lines == [
        f"{gender_line}: value is not one of {genders}",
        f"{ttl_line}: must be an integer of Unix seconds, not a string",
    ]
    assert "nothing was written" in result.stderr
    assert "Zorglub" not in result.output
    assert snapshot(engine) == before


def test_skip_invalid_writes_the_rest_and_still_exits_2(
    environ: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    path = write_jsonl(tmp_path / "l.jsonl", [make_lead(1), make_lead(2, portal="NOPE")])
    result = run(["import", "--skip-invalid", "--json", str(path)], environ)
    assert result.exit_code == 2
    out = json_out(result)
    assert (out["imported"], out["rejected"]) == (1, 1)
    assert out["errors"] == [
        f"{path}: line 2: lead lead-000002: metadata.portal: value 'NOPE' is not one of "
        + ", ".join(
            ["BDS-FRA", "IMN-DEU", "IWB-BEL", "IWT-DEU", "IWT-AUT", "LCI-FRA", "LIM-FRA",
             "LIC-FRA", "LIN-FRA", "LUX-FRA", "MAG-FRA", "SLG-FRA", "BCM-FRA", "SLC-FRA",
             "SLN-FRA", "YSQ-DEU", "SIG-DEU", "SIG-FRA"]
        )
    ]  # fmt: skip
    assert len(snapshot(engine)["leads"]) == 1


def test_dry_run_reports_and_writes_nothing(
    environ: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    before = snapshot(engine)
    path = write_json(
        tmp_path / "page.json", {"metadata": {}, "links": {}, "items": [make_lead(1)]}
    )
    result = run(["import", "--dry-run", "--json", str(path)], environ)
    assert result.exit_code == 0
    assert (json_out(result)["imported"], json_out(result)["dry_run"]) == (1, True)
    assert snapshot(engine) == before


def test_expired_on_arrival_uses_the_clock(environ: dict[str, str], tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "l.jsonl", [make_lead(1, TTL=NOW_TS, ingestionDate=NOW_TS - 9)])
    with freeze_time("2026-01-15T11:59:59+00:00"):
        assert json_out(run(["import", "--dry-run", "--json", str(path)], environ))["imported"] == 1
    with freeze_time("2026-01-15T12:00:00+00:00"):
        out = json_out(run(["import", "--json", str(path)], environ))
    assert (out["imported"], out["expired_on_arrival"]) == (0, 1)


def test_unreadable_file_is_exit_2_one_line(
    environ: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    before = snapshot(engine)
    path = tmp_path / "latin1.json"
    content = b'[{"metadata": {"leadId": "x"}, "contactRequest": {"lastName": "M\xfcller"}}]'
    path.write_bytes(content)
    result = run(["import", str(path)], environ)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: {path}: byte {content.index(0xFC)}: not UTF-8 text"
    assert snapshot(engine) == before
    missing = run(["import", str(tmp_path / "missing.json")], environ)
    assert (missing.exit_code, missing.stderr.strip()) == (
        2,
        f"error: {tmp_path / 'missing.json'}: no such file",
    )


def test_import_needs_a_path(environ: dict[str, str]) -> None:
    result = run(["import"], environ)
    assert result.exit_code == 2
    assert "Missing argument" in result.stderr


# --- what an import refuses or does not store ------------------------------------------

YEAR = 365 * 24 * 3600


@pytest.mark.parametrize(
    ("ahead", "stored"),
    [(299, True), (300, True), (301, False)],
    ids=["skew-1s-ahead", "skew-ahead", "skew+1s-ahead"],
)
def test_a_lead_ingested_in_the_future_is_refused_naming_record_and_field(
    environ: dict[str, str], engine: Engine, tmp_path: Path, ahead: int, stored: bool
) -> None:
    """Up to retention.max_clock_skew_seconds (300 s) of disagreement between clocks is fine;
    a lead dated later than that is invalid input, not a lead that stops the purge for years."""
    lead = make_lead(1, ingestionDate=NOW_TS + ahead, TTL=NOW_TS + 3 * YEAR)
    path = write_jsonl(tmp_path / "l.jsonl", [lead])
    with freeze_time("2026-01-15T12:00:00+00:00"):
        result = run(["import", "--json", str(path)], environ)
    out = json_out(result)
    if stored:
        assert (result.exit_code, out["imported"]) == (0, 1)
        return
    assert (result.exit_code, out["imported"], out["rejected"]) == (2, 0, 1)
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("invalid:")]
    assert line.startswith(f"invalid: {path}: line 1: lead lead-000001: metadata.ingestionDate: ")
    assert "in the future" in line
    assert snapshot(engine)["leads"] == []


def test_a_lead_of_2030_is_refused_and_the_purge_keeps_running(
    environ: dict[str, str], tmp_path: Path
) -> None:
    """The reproduction of the defect: a lead of 2030 imported, then `retention run purge`."""
    path = write_jsonl(tmp_path / "l.jsonl", [make_lead(1, ingestionDate=1900000000,
                                                        TTL=1900000000 + 3 * YEAR)])  # fmt: skip
    with freeze_time("2026-01-15T12:00:00+00:00"):
        assert run(["import", str(path)], environ).exit_code == 2
        assert run(["run", "purge"], environ).exit_code == 0


@pytest.mark.parametrize(
    ("ingested_before_cutoff", "stored"),
    [(1, False), (0, False), (-1, True)],
    ids=["ingested-3y-and-1s-ago", "ingested-exactly-3y-ago", "ingested-3y-minus-1s-ago"],
)
def test_a_lead_due_under_the_ceiling_on_arrival_is_not_stored(
    environ: dict[str, str], engine: Engine, tmp_path: Path, ingested_before_cutoff: int,
    stored: bool,
) -> None:  # fmt: skip
    """Both rules apply at import: a lead ingested 3 years ago or more (the ceiling), even with
    a TTL in the future, is expired on arrival, its personal data never stored."""
    cutoff = 1673784000  # 2023-01-15T12:00:00Z, three calendar years before the frozen now
    lead = make_lead(1, ingestionDate=cutoff - ingested_before_cutoff, TTL=NOW_TS + YEAR)
    path = write_jsonl(tmp_path / "l.jsonl", [lead])
    with freeze_time("2026-01-15T12:00:00+00:00"):
        out = json_out(run(["import", "--json", str(path)], environ))
    assert (out["imported"], out["expired_on_arrival"]) == ((1, 0) if stored else (0, 1))
    assert bool(snapshot(engine)["leads"]) is stored


@pytest.mark.parametrize("stdin", [b"", b"\n  \n"], ids=["nothing", "blank-lines"])
def test_no_input_at_all_is_exit_2(environ: dict[str, str], engine: Engine, stdin: bytes) -> None:
    """`curl ... | retention import -` after a failed download must not look like success."""
    result = run(["import", "--json", "-"], environ, stdin=stdin)
    assert result.exit_code == 2
    expected = "error: <stdin>: empty input: no page, array, lead or JSON Lines in it"
    assert result.stderr.strip() == expected
    assert json_out(result)["error"].startswith("<stdin>: empty input")


def test_a_page_without_items_is_reported_as_such(environ: dict[str, str], tmp_path: Path) -> None:
    path = write_json(tmp_path / "page.json", {"metadata": {}, "links": {"next": None}})
    result = run(["import", str(path)], environ)
    assert result.exit_code == 2
    assert f"invalid: {path}: object: (record): a paginatedResultSet page without `items`" in (
        result.stderr
    )

"""`--json` prints exactly one JSON object on stdout in every outcome, with the same keys:
success, dry run, refusal, bad input, config error, database unreachable (both databases)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from retention.config import Settings
from retention.services.demo import example_files
from tests.cli_helpers import run
from tests.factories import FROZEN_NOW_TEXT, due_lead, fresh_lead, seed

UNREACHABLE = "sqlite:////nonexistent-folder/retention.db"


@pytest.fixture(autouse=True)
def _frozen(engine: Engine) -> Iterator[None]:
    with freeze_time(FROZEN_NOW_TEXT):
        yield


def _one_object(stdout: str) -> dict[str, Any]:
    """Exactly one JSON object, alone on stdout."""
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    document = json.loads(lines[0])
    assert isinstance(document, dict)
    return document


def _commands(tmp_path: Path) -> dict[str, list[str]]:
    csv = tmp_path / "requests.csv"
    if tmp_path.exists():
        csv.write_text("email,queued@example.com,,\n")
    return {
        "db upgrade": ["db", "upgrade", "--json"],
        "db current": ["db", "current", "--json"],
        "import": ["import", "--json", *example_files()],
        "import --dry-run": ["import", "--json", "--dry-run", *example_files()],
        "purge": ["purge", "--json"],
        "purge --dry-run": ["purge", "--json", "--dry-run"],
        "run purge": ["run", "purge", "--json"],
        "run erasure": ["run", "erasure", "--json"],
        "run erasure --dry-run": ["run", "erasure", "--json", "--dry-run"],
        "erase": ["erase", "--email", "seeker.1@example.com", "--json"],
        "erase --dry-run": ["erase", "--email", "seeker.1@example.com", "--json", "--dry-run"],
        "requests add": ["requests", "add", "--email", "new@example.com", "--json"],
        "requests add --dry-run": [
            *["requests", "add", "--email", "new@example.com", "--json", "--dry-run"]
        ],
        "requests import": ["requests", "import", str(csv), "--json"],
        "requests list": ["requests", "list", "--json"],
        "hold place": ["hold", "place", "--lead-id", "lead-000002", "--reason", "r", "--json"],
        "hold place --dry-run": [
            *["hold", "place", "--lead-id", "lead-000002", "--reason", "r", "--json", "--dry-run"]
        ],
        "hold list": ["hold", "list", "--json"],
        "audit verify": ["audit", "verify", "--json"],
    }


COMMANDS = list(_commands(Path("/unused")))


@pytest.mark.parametrize("name", COMMANDS)
def test_every_json_document_has_the_same_keys_in_success_and_failure(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path, name: str
) -> None:
    seed(settings, engine, [fresh_lead(1), fresh_lead(2)])
    args = _commands(tmp_path)[name]
    ok = run(args, environ)
    assert ok.exit_code == 0, ok.output
    success = _one_object(ok.stdout)
    assert (success["error"], success["exit_code"]) == (None, 0)
    down = run(args, {**environ, "RETENTION_DATABASE_URL": UNREACHABLE})
    assert down.exit_code == 3
    failure = _one_object(down.stdout)
    assert set(failure) == set(success), name
    assert failure["exit_code"] == 3
    assert failure["error"] in down.stderr
    assert {k for k, v in failure.items() if v is not None} == {"error", "exit_code"}


@pytest.mark.parametrize(
    ("real", "dry"),
    [("import", "import --dry-run"), ("purge", "purge --dry-run"),
     ("run erasure", "run erasure --dry-run"), ("erase", "erase --dry-run"),
     ("requests add", "requests add --dry-run"), ("hold place", "hold place --dry-run")],
)  # fmt: skip
def test_a_dry_run_has_the_keys_of_the_real_run(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path, real: str,
    dry: str,
) -> None:  # fmt: skip
    seed(settings, engine, [fresh_lead(1), fresh_lead(2)])
    commands = _commands(tmp_path)
    dry_document = _one_object(run(commands[dry], environ).stdout)
    real_document = _one_object(run(commands[real], environ).stdout)
    assert set(dry_document) == set(real_document)
    assert dry_document["dry_run"] is True and real_document["dry_run"] is False


def test_a_refused_purge_prints_its_document_with_the_error(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(n) for n in range(1, 1003)])
    result = run(["purge", "--json"], environ)
    assert result.exit_code == 1
    document = _one_object(result.stdout)
    assert document["exit_code"] == 1 and "blast-radius guard" in document["error"]
    assert result.stderr.strip().endswith(document["error"])


@pytest.mark.parametrize(
    ("args", "extra_env", "code", "error"),
    [
        (["import", "--json", "MISSING"], {}, 2, "no such file"),
        (["requests", "import", "BADCSV", "--json"], {}, 2, "bad request row"),
        (["purge", "--json"], {"RETENTION_PURGE_BATCH_SIZE": "-1"}, 2, "purge.batch_size"),
        (["purge", "--json"], {"RETENTION_PURGE_BATCHSIZE": "5"}, 2, "unknown setting"),
        (["requests", "list", "--json", "--status", "bogus"], {}, 2, "bogus"),
        (["erase", "--json"], {}, 2, "give exactly one of --email, --phone or --lead-id"),
    ],
    ids=["unreadable-file", "bad-csv", "config-value", "config-env-typo", "usage", "no-subject"],
)
def test_a_failing_command_prints_one_object_with_error_and_exit_code(
    environ: dict[str, str], tmp_path: Path, args: list[str], extra_env: dict[str, str],
    code: int, error: str,
) -> None:  # fmt: skip
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("fax,123,,\n")
    args = [{"MISSING": str(tmp_path / "missing.json"), "BADCSV": str(bad_csv)}.get(a, a)
            for a in args]  # fmt: skip
    result = run(args, {**environ, **extra_env})
    assert result.exit_code == code
    document = _one_object(result.stdout)
    assert document["exit_code"] == code and error in document["error"]
    assert result.stderr.strip(), "the error line stays on stderr"

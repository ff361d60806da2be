"""Global behaviour of the command line: options, logging, exit codes, masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from retention.services.demo import example_files
from tests.cli_helpers import json_out, run
from tests.conftest import TEST_KEY
from tests.factories import make_lead, with_contact, write_jsonl


def test_log_format_json_writes_json_lines_without_personal_data(
    environ: dict[str, str], tmp_path: Path
) -> None:
    bad = with_contact(make_lead(2), email="hidden.seeker@example.com", gender="X")
    path = write_jsonl(tmp_path / "l.jsonl", [make_lead(1), bad])
    result = run(["--log-format", "json", "-v", "import", "--skip-invalid", str(path)], environ)
    assert result.exit_code == 2
    log_lines = [line for line in result.stderr.splitlines() if line.startswith("{")]
    assert log_lines, result.stderr
    entries = [json.loads(line) for line in log_lines]
    assert {"time", "level", "logger", "message"} <= set(entries[-1])
    assert any("1 imported" in e["message"] for e in entries)
    for needle in ("hidden.seeker", "Prenom", "Nomfictif", "+336000", "Message fictif"):
        assert needle not in result.output


def test_quiet_hides_info_logs(environ: dict[str, str]) -> None:
    result = run(["-q", "import", *example_files()], environ)
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "imported 5" in result.stdout


def test_config_option_and_invalid_config(environ: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[logging]\nformat = "json"\n')
    result = run(["--config", str(config), "import", *example_files()], environ)
    assert result.exit_code == 0
    assert result.stderr.splitlines()[-1].startswith("{")
    config.write_text("[import]\nbatch_size = -1\n")
    bad = run(["--config", str(config), "import", *example_files()], environ)
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "error: config: import.batch_size: must be at least 1"


def test_schema_not_current_is_exit_3(tmp_path: Path) -> None:
    env = {"RETENTION_SUBJECT_KEY": TEST_KEY}
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = run(["--database-url", url, "import", *example_files()], env)
    assert result.exit_code == 3
    assert "run `retention db upgrade`" in result.stderr
    assert not (tmp_path / "fresh.db").exists(), "a missing store must not be created"
    assert run(["--database-url", url, "db", "upgrade"], env).exit_code == 0
    assert run(["--database-url", url, "db", "upgrade"], env).exit_code == 0
    assert run(["--database-url", url, "import", *example_files()], env).exit_code == 0


def test_empty_database_without_schema_is_exit_3(tmp_path: Path) -> None:
    import sqlite3

    sqlite3.connect(tmp_path / "empty.db").close()
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = run(["--database-url", url, "import", *example_files()], {})
    assert result.exit_code == 3
    assert result.stderr.strip() == (
        "error: the database has no lead-retention schema: run `retention db upgrade`"
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://app:s3cretpw@127.0.0.1:1/leads",
        "sqlite:////nonexistent-folder/retention.db",
    ],
    ids=["postgresql-refused", "sqlite-no-folder"],
)
def test_unreachable_database_is_exit_3_with_masked_url(url: str) -> None:
    result = run(["--database-url", url, "db", "upgrade"], {})
    assert result.exit_code == 3
    assert len(result.stderr.strip().splitlines()) == 1
    assert "s3cretpw" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_db_commands_show_the_url_with_the_password_masked(postgres_url: str) -> None:
    # The test server trusts local connections, so any password is accepted and must be hidden.
    url = postgres_url.replace("postgres@", "postgres:pw-s3cret@", 1)
    for args in (["db", "current", "--json"], ["db", "upgrade"], ["-v", "db", "current"]):
        result = run(["--database-url", url, *args], {})
        assert result.exit_code == 0, result.output
        assert "pw-s3cret" not in result.output
        assert "postgres:***@" in result.output
    out = json_out(run(["--database-url", url, "db", "current", "--json"], {}))
    assert out["up_to_date"] is True and out["current"] == out["head"]


def test_traceback_flag_reraises(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    from retention.errors import SchemaNotCurrentError

    with pytest.raises(SchemaNotCurrentError):
        run(["--traceback", "--database-url", url, "import", "-"], {})


def test_demo_plays_a_month_and_writes_the_report(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    first = run(["demo", "--path", str(path), "--json"], {})
    assert first.exit_code == 0, first.output
    out = json_out(first)
    assert out["leads_before"] == 5000 and out["guard_refused_first_run"] is True
    assert out["deleted"] > 1000 and out["purged_daily"] > 0
    # The store at the end: the purges' survivors and the erased seeker's lead imported later.
    assert out["leads_after"] == out["leads_before"] - out["deleted"] - out["purged_daily"] + 1
    assert out["by_rule"]["ceiling"] > 0 and out["hold_skipped"] == 2
    assert out["audit_chain_ok"] is True
    erasure = out["erasure"]
    assert (erasure["completed"], erasure["leads_erased"]) == (3, 2)
    assert (erasure["deferred_now"], erasure["overdue_now"]) == (1, 1)
    assert out["erased_on_import"] == 1
    html = tmp_path / "demo-report.html"
    assert out["report_html"] == str(html) and "<svg" in html.read_text()
    # The disaster drill: the backup of day 3 restored, refused by the guard, replayed.
    restore = out["restore"]
    assert restore["refused_before_replay"] is True
    assert restore["events_restored"] > 0 and restore["purged"] > 0 and restore["erased"] >= 1
    assert (restore["lead_had_data"], restore["lead_has_data"]) == (True, False)
    assert restore["verified_against_anchors"] > 0
    assert restore["suppressions"] >= 1
    told = run(["demo", "--path", str(path), "--leads", "300"], {})
    assert told.exit_code == 0
    assert "\nCompliance report: " in told.stdout and "\nPolicy in force\n" in told.stdout
    assert "the guard refuses to run on it" in told.stdout
    assert told.stdout.rstrip().splitlines()[-2] == f"HTML report written to {html}"
    again = run(["demo", "--path", str(path), "--json", "--leads", "100"], {})
    assert json_out(again)["leads_before"] == 100  # rebuilt from scratch
    other = tmp_path / "real.db"
    other.write_bytes(b"")
    refused = run(["demo", "--path", str(other)], {})
    assert refused.exit_code == 2 and "not a demo store" in refused.stderr


def test_a_store_locked_by_another_writer_is_a_clear_exit_3(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "busy.db"
    env = {
        "RETENTION_DATABASE_URL": f"sqlite:///{path}",
        "RETENTION_DATABASE_BUSY_TIMEOUT_SECONDS": "0.2",
        "RETENTION_SUBJECT_KEY": "k" * 40,
    }
    assert run(["db", "upgrade"], env).exit_code == 0
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        result = run(["erase", "--email", "someone@example.com"], env)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.exit_code == 3
    assert result.stderr.startswith("error: database unavailable: database is locked: another")
    assert "someone" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_every_job_of_the_registry_runs_from_the_command_line() -> None:
    """`retention run JOB` knows how to run and render each job the registry holds: a job
    added to the registry alone cannot silently run as another."""
    from jobs.registry import JOBS
    from retention.cli.run import RUNNERS

    assert list(RUNNERS) == list(JOBS)
    result = run(["run", "--help"], {})
    assert "{" + "|".join(JOBS) + "}" in result.stdout

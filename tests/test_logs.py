"""Every log line of a run names its job and its run id, in text and JSON, whichever module
writes it (the workers' threads included); none holds personal data (both databases)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from retention.config import Settings
from retention.services.requests import add_request
from tests.cli_helpers import run
from tests.factories import FROZEN_NOW_TEXT, NOW, due_lead, fresh_lead, seed


@pytest.fixture(autouse=True)
def _frozen(engine: Engine) -> Iterator[None]:
    with freeze_time(FROZEN_NOW_TEXT):
        yield


@pytest.mark.parametrize("job", ["purge", "erasure"])
def test_every_line_of_a_run_names_its_job_and_run(
    settings: Settings, engine: Engine, environ: dict[str, str], job: str
) -> None:
    seed(settings, engine, [due_lead(1)] + [fresh_lead(n) for n in range(2, 6)])
    for n in range(2, 6):
        add_request(settings, engine, now=NOW, email=f"seeker.{n}@example.com")
    env = {**environ, "RETENTION_ERASURE_BATCH_SIZE": "1"}
    result = run(["--log-format", "json", "-v", "run", job], env)
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    started = next(i for i, e in enumerate(lines) if e["message"].startswith(f"{job} run started"))
    during = lines[started:]
    assert len(during) >= 3, "the run logged its start, a batch and its end"
    run_ids = {entry.get("run_id") for entry in during}
    assert len(run_ids) == 1 and None not in run_ids, during
    assert {entry.get("job") for entry in during} == {job}
    for needle in ("seeker.", "Prenom", "Nomfictif", "+336000", "Message fictif"):
        assert needle not in result.stderr


def test_text_lines_carry_them_too(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(1)])
    result = run(["-v", "run", "purge"], environ)
    batch_lines = [line for line in result.stderr.splitlines() if "batch 1:" in line]
    assert batch_lines and all("job=purge" in line and "run_id=" in line for line in batch_lines)

"""Prometheus metrics: the names SPEC fixes, values read from the store, a textfile written
atomically after every run and check and valid for `promtool check metrics` (both
databases)."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from freezegun import freeze_time
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from jobs.metrics import METRICS, metrics_registry
from retention.config import Settings
from retention.services.requests import add_request
from tests.cli_helpers import run
from tests.factories import FROZEN_NOW_TEXT, NOW, audit_rows, due_lead, fresh_lead, seed

SPEC_NAMES = {
    "retention_leads_purged_total", "retention_leads_erased_total", "retention_requests_pending",
    "retention_requests_overdue", "retention_purge_lag_seconds",
    "retention_job_last_success_timestamp_seconds", "retention_job_duration_seconds",
}  # fmt: skip


@pytest.fixture(autouse=True)
def _frozen(engine: Engine) -> Iterator[None]:
    with freeze_time(FROZEN_NOW_TEXT):
        yield


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_textfile_after_a_run_holds_the_store_figures(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    seed(settings, engine, [due_lead(1), due_lead(2), fresh_lead(3)])
    add_request(settings, engine, now=NOW, email="seeker.3@example.com")
    textfile = tmp_path / "retention.prom"
    env = {**environ, "RETENTION_METRICS_TEXTFILE": str(textfile)}
    assert run(["run", "purge"], env).exit_code == 0
    samples = _samples(textfile.read_text())
    assert SPEC_NAMES <= {name for name, _ in samples}
    assert set(METRICS) >= {name for name, _ in samples if not name.endswith("_created")}
    assert samples[("retention_leads_purged_total", ())] == 2
    assert samples[("retention_requests_pending", ())] == 1
    assert samples[("retention_purge_lag_seconds", ())] == 0
    assert samples[("retention_store_up", ())] == 1
    success = samples[("retention_job_last_success_timestamp_seconds", (("job", "purge"),))]
    assert success == NOW.timestamp()
    assert samples[("retention_job_last_run_failed", (("job", "purge"),))] == 0
    assert not list(tmp_path.glob("retention.prom.*")), "written through a temporary file"
    # A check that finds nothing rewrites it too: the heartbeat is there.
    textfile.unlink()
    assert run(["run", "purge"], env).exit_code == 0
    check = _samples(textfile.read_text())
    assert check[("retention_job_last_check_timestamp_seconds", (("job", "purge"),))] == (
        NOW.timestamp()
    )


def test_promtool_accepts_the_textfile(
    settings: Settings, engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing (Debian package prometheus): .ci/run installs it")
        pytest.skip("promtool not installed (Debian package prometheus)")
    seed(settings, engine, [due_lead(1)])
    textfile = tmp_path / "retention.prom"
    assert (
        run(["run", "purge"], {**environ, "RETENTION_METRICS_TEXTFILE": str(textfile)}).exit_code
        == 0
    )
    checked = subprocess.run([promtool, "check", "metrics"], input=textfile.read_bytes(),
                             capture_output=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_store_that_does_not_answer_is_store_up_0(settings: Settings) -> None:
    from prometheus_client import generate_latest

    samples = _samples(generate_latest(metrics_registry(settings, lambda: None)).decode())
    assert samples == {("retention_store_up", ()): 0}


class _Gateway(http.server.BaseHTTPRequestHandler):
    """A push gateway that keeps what it was sent."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_PUT(self) -> None:  # http.server calls it by this name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.command, self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    _Gateway.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Gateway.received
    finally:
        server.shutdown()
        server.server_close()


def test_each_run_pushes_the_store_figures_to_the_gateway(
    settings: Settings, engine: Engine, environ: dict[str, str],
    gateway: tuple[str, list[tuple[str, str, bytes]]],
) -> None:  # fmt: skip
    url, received = gateway
    seed(settings, engine, [due_lead(1), due_lead(2), fresh_lead(3)])
    assert run(["run", "purge"], {**environ, "RETENTION_METRICS_PUSHGATEWAY": url}).exit_code == 0
    [(method, path, body)] = received
    assert method == "PUT"  # the group replaced whole: no metric left over from an older push
    assert path == f"/metrics/job/lead-retention/instance/{socket.gethostname()}"
    samples = _samples(body.decode())
    assert samples[("retention_leads_purged_total", ())] == 2
    assert samples[("retention_store_up", ())] == 1


def test_a_gateway_that_does_not_answer_is_logged_and_the_run_still_succeeds(
    settings: Settings, engine: Engine, environ: dict[str, str]
) -> None:
    seed(settings, engine, [due_lead(1)])
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**environ, "RETENTION_METRICS_PUSHGATEWAY": f"http://127.0.0.1:{port}"}
    result = run(["run", "purge"], env)
    assert result.exit_code == 0, "the leads were purged: exporting is not the run's work"
    assert "metrics: could not push" in result.stderr
    assert len(audit_rows(engine, "lead.purged")) == 1

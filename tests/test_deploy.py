"""The deployment examples in deploy/ stay true to the tool (README.md, "Deployment").

Every `retention ...` line they hold is a command line the CLI accepts, every RETENTION_*
variable they name is a setting (and every value they give one passes its check), the
schedules are the configured defaults, the systemd units pass `systemd-analyze verify`, the
Kubernetes manifests hold the fields that matter, the report job's folder is somewhere each way
may write, and the container installs the tool with the README's production install, word for
word. The readers are in tests/deploy_files.py.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest

from jobs.registry import JOBS
from retention.cli import cli
from retention.config import Settings, load_settings
from retention.config.schema import declared_keys
from tests.deploy_files import (
    BINARY,
    CONTAINERFILE,
    CRONTAB,
    DEPLOY,
    KUBERNETES,
    README,
    ROLES_SQL,
    ROOT,
    SECTION,
    SYSTEMD,
    Document,
    Invocation,
    code_blocks,
    container,
    container_argv,
    container_env,
    containerfile,
    containerfile_env,
    copied_paths,
    cron_sets,
    cron_times,
    crontab_entries,
    exec_argv,
    image_command,
    image_gid,
    image_uid,
    image_workdir,
    invocations,
    invocations_in_text,
    last_stage,
    manifest_files,
    manifests,
    mounted_claims,
    of_kind,
    one,
    pod_spec,
    read_unit,
    reader_pods,
    readme_secret,
    seconds,
    timer_job,
    timers,
    unit_files,
    variables_named,
    variables_set,
    workloads,
)

ENV_FILE = "/etc/retention/retention.env"
DATA_DIR = "/var/lib/retention"
SERVICE_USER = "retention"
SECRETS = ("RETENTION_DATABASE_URL", "RETENTION_SUBJECT_KEY")

DEFAULTS = load_settings(environ={})
# Each [jobs.NAME] table's default schedule.
SCHEDULES = {
    field.name: getattr(DEFAULTS.jobs, field.name).schedule for field in fields(DEFAULTS.jobs)
}
# The report job's files, by default `reports` in the working directory.
REPORTS = DEFAULTS.jobs.report.folder
REPORTS_VARIABLE = "RETENTION_JOBS_REPORT_FOLDER"

# `retention scheduler` and `retention status` belong to the fixed interface the deployment is
# written against, and another branch is building them. Until they are merged, a line that
# runs one of them is skipped with the reason; after that it is checked like any other.
NOT_YET_MERGED = frozenset({"scheduler", "status"})


def test_every_job_has_a_configured_schedule() -> None:
    assert set(SCHEDULES) == set(JOBS)


# Files of deploy/ that another test module checks, and the module.
CHECKED_ELSEWHERE = {ROLES_SQL: ROOT / "tests" / "test_roles.py"}


def test_every_deploy_file_is_checked_here() -> None:
    checked = {CRONTAB, CONTAINERFILE, *unit_files(), *manifest_files(), *CHECKED_ELSEWHERE}
    assert {path for path in DEPLOY.rglob("*") if path.is_file()} == checked
    for path, module in CHECKED_ELSEWHERE.items():
        assert f'"{path.name}"' in module.read_text(), f"{module.name} does not read {path.name}"


def test_the_cron_reader_reads_cron() -> None:
    after = datetime(2024, 1, 15, 12, 7, 30, tzinfo=UTC)  # a Monday
    fifteen = [datetime(2024, 1, 15, 12, minute, tzinfo=UTC) for minute in (15, 30, 45)]
    assert cron_times("*/15 * * * *", after, 3) == fifteen
    assert cron_times("0 6 * * 1", after, 1) == [datetime(2024, 1, 22, 6, 0, tzinfo=UTC)]
    assert cron_times("0 0 1 * 7", after, 2) == [
        datetime(2024, 1, 21, tzinfo=UTC),  # a Sunday
        datetime(2024, 1, 28, tzinfo=UTC),
    ]
    for bad in ("* * * *", "60 * * * *", "*/0 * * * *", "x * * * *", "* * * * * *"):
        with pytest.raises(ValueError):
            cron_sets(bad)


# Command lines.


def _command_path(argv: Sequence[str]) -> list[str]:
    """Parse `retention ARGV` as click does, running nothing, and return the command's path
    (["db", "upgrade"]). Raises click.UsageError where the CLI would refuse the line."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="retention")
    # click.Command.parse_args takes the group's own options and leaves the rest (the group's
    # parse_args would keep the command's name to itself).
    arguments = click.Command.parse_args(cli, ctx, list(argv))
    path: list[str] = []
    while isinstance(command, click.Group):
        if not arguments:
            raise click.UsageError("no command", ctx)
        if command is cli and arguments[0] in NOT_YET_MERGED:
            if arguments[0] not in cli.list_commands(ctx):
                pytest.skip(f"`retention {arguments[0]}` is not in this branch yet")
        name, found, arguments = command.resolve_command(ctx, arguments)
        assert name is not None and found is not None
        path.append(name)
        command = found
        ctx = click.Context(command, info_name=name, parent=ctx)
        arguments = click.Command.parse_args(command, ctx, arguments)
    return path


INVOCATIONS = invocations()


def test_the_command_lines_found_include_every_job_and_command_deployed() -> None:
    argvs = {invocation.argv for invocation in INVOCATIONS}
    expected = {("run", job) for job in JOBS} | {("db", "upgrade"), ("scheduler",)}
    assert expected | {("status", "--check"), ("status",)} <= argvs


def test_the_command_line_parser_refuses_what_the_cli_refuses() -> None:
    assert _command_path(["--log-format", "json", "run", "purge"]) == ["run"]
    assert _command_path(["db", "upgrade"]) == ["db", "upgrade"]
    for bad in (["run", "cleanup"], ["db", "downgrade"], ["purge", "--nope"], ["run"], []):
        with pytest.raises(click.UsageError):
            _command_path(bad)
    (shell,) = invocations_in_text("x", "set -a && /opt/retention/bin/retention run purge 2>&1 |")
    assert shell.argv == ("run", "purge")
    assert invocations_in_text("x", "useradd --gid retention --home-dir /x retention") == []


@pytest.mark.parametrize(
    "invocation", INVOCATIONS, ids=[f"{i.where} {' '.join(i.argv)}" for i in INVOCATIONS]
)
def test_every_retention_command_line_is_one_the_cli_accepts(invocation: Invocation) -> None:
    try:
        _command_path(invocation.argv)
    except click.UsageError as exc:
        pytest.fail(f"{invocation.where}: retention {' '.join(invocation.argv)}: {exc}")


# RETENTION_* variables.

ALLOWED_VARIABLES = {key.env for key in declared_keys(Settings)} | {
    "RETENTION_CONFIG",
    "RETENTION_SUBJECT_KEY",
}
NAMED = variables_named()
GIVEN = variables_set()


def test_the_variables_found_include_the_secrets_and_the_metrics_settings() -> None:
    metrics = {"RETENTION_METRICS_PORT", "RETENTION_METRICS_ADDRESS"}
    assert {*SECRETS, *metrics} <= {name for name, _ in NAMED}
    assert metrics <= {name for _, name, _ in GIVEN}


@pytest.mark.parametrize(("name", "where"), NAMED, ids=[f"{n} {w}" for n, w in NAMED])
def test_every_variable_named_is_a_setting(name: str, where: str) -> None:
    assert name in ALLOWED_VARIABLES, f"{where}: {name} is no setting, the tool would refuse it"


@pytest.mark.parametrize(("where", "name", "value"), GIVEN, ids=[f"{w} {n}" for w, n, _ in GIVEN])
def test_every_value_given_passes_the_settings_check(where: str, name: str, value: str) -> None:
    assert name not in SECRETS, f"{where} writes the secret {name} into a file"
    load_settings(environ={name: value})


# cron.


def test_crontab_lines_are_five_field_cron_lines_that_run_each_job() -> None:
    scheduled: dict[str, str] = {}
    for entry in crontab_entries():
        cron_sets(entry.expression)  # five valid fields, or ValueError
        (invocation,) = invocations_in_text(f"crontab:{entry.line}", entry.command)
        run, job = invocation.argv  # exactly `retention run JOB`, nothing more
        assert run == "run" and job in JOBS
        assert job not in scheduled, f"{job} is scheduled twice"
        scheduled[job] = entry.expression
        # Root reads the root-only secrets; the job runs as the service user.
        assert entry.user == "root"
        before = entry.command.split(BINARY)[0]
        assert f". {ENV_FILE} " in before
        assert f"setpriv --reuid={SERVICE_USER} " in before
        assert "flock" not in entry.command  # the tool locks each job itself
        assert "| logger -t " in entry.command  # logs to syslog, the journal
    assert scheduled == SCHEDULES
    # Each line starts in HOME, the data directory: the report job's folder is in there.
    assert f"\nHOME={DATA_DIR}\n" in CRONTAB.read_text()
    assert not REPORTS.is_absolute() and f"{Path(DATA_DIR) / REPORTS}/" in SECTION


# systemd.


@pytest.fixture
def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        reason = "systemd-analyze is not installed: the systemd units cannot be verified"
        if os.environ.get("CI"):
            pytest.fail(f"under CI: {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def test_systemd_units_pass_systemd_analyze_verify(systemd_analyze: str, tmp_path: Path) -> None:
    # `systemd-analyze verify` refuses a unit whose ExecStart= program does not exist ("Command
    # ... is not executable"), and BINARY is where the production install puts the tool, not
    # this checkout. So it verifies copies of the units that point at a stub executable in
    # tmp_path, all else unchanged; verified together, the timers find their service.
    stub = tmp_path / "bin" / "retention"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    units = tmp_path / "system"
    units.mkdir()
    for path in unit_files():
        text = path.read_text()
        assert BINARY in text or path.suffix == ".timer", path.name
        (units / path.name).write_text(text.replace(BINARY, str(stub)))
    result = subprocess.run(
        [systemd_analyze, "verify", *sorted(str(path) for path in units.iterdir())],
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # An unknown key or a bad value is only a warning (exit 0): any line about ours fails.
    assert [line for line in output.splitlines() if "retention" in line] == []


def _calendar_times(systemd_analyze: str, spec: str, after: datetime, count: int) -> list[datetime]:
    """When systemd starts a timer with OnCalendar=`spec`: the next `count` times after `after`."""
    command = [systemd_analyze, "calendar", f"--iterations={count}"]
    result = subprocess.run(
        [*command, f"--base-time=@{int(after.timestamp())}", spec],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
    )
    pattern = r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC"
    return [datetime.fromisoformat(f"{t}+00:00") for t in re.findall(pattern, result.stdout)]


def test_timers_start_each_job_on_its_configured_schedule(systemd_analyze: str) -> None:
    assert sorted(timer_job(timer) for timer in timers().values()) == sorted(JOBS)
    assert (SYSTEMD / "retention-run@.service").is_file()
    after = datetime(2024, 1, 15, 12, 7, 30, tzinfo=UTC)
    for name, timer in timers().items():
        spec = one(timer, "Timer.OnCalendar")
        # In the scheduler's time zone (UTC by default), whatever the host's.
        assert spec.endswith(f" {DEFAULTS.scheduler.timezone}"), name
        expected = cron_times(SCHEDULES[timer_job(timer)], after, 70)
        assert _calendar_times(systemd_analyze, spec, after, 70) == expected, name
        assert one(timer, "Install.WantedBy") == "timers.target"
        # Like the scheduler, a run missed while the host was down runs once when it is back;
        # a run every minute needs no catching up: the next minute's comes anyway.
        if expected[1] - expected[0] > timedelta(minutes=1):
            assert one(timer, "Timer.Persistent") == "true", name


@pytest.mark.parametrize("name", ["retention-run@.service", "retention-scheduler.service"])
def test_services_run_as_the_service_user_hardened(name: str) -> None:
    unit = read_unit(SYSTEMD / name, "purge")
    assert one(unit, "Service.User") == one(unit, "Service.Group") == SERVICE_USER
    assert one(unit, "Service.EnvironmentFile") == ENV_FILE
    assert one(unit, "Service.WorkingDirectory") == DATA_DIR
    assert f"/var/lib/{one(unit, 'Service.StateDirectory')}" == DATA_DIR
    assert one(unit, "Service.StateDirectoryMode") == "0700"
    assert one(unit, "Service.UMask") == "0077"
    assert DATA_DIR in one(unit, "Service.ReadWritePaths").split()
    # The report job's folder, relative to the working directory, is one the unit may write.
    reports = Path(one(unit, "Service.WorkingDirectory")) / REPORTS
    writable = [Path(path) for path in one(unit, "Service.ReadWritePaths").split()]
    assert any(reports.is_relative_to(path) for path in writable), reports
    assert f"{reports}/" in SECTION  # where the README says the files are
    assert one(unit, "Service.KillSignal") == "SIGTERM"
    assert seconds(one(unit, "Service.TimeoutStopSec")) >= 60  # time to finish a batch
    for key, value in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictSUIDSGID", "yes"),
        ("SystemCallFilter", "@system-service"),
    ]:
        assert one(unit, f"Service.{key}") == value, key


def test_run_service_runs_one_job_once_and_leaves_the_schema_alone() -> None:
    unit = read_unit(SYSTEMD / "retention-run@.service", "%i")
    assert one(unit, "Service.Type") == "oneshot"
    assert [exec_argv(value) for value in unit["Service.ExecStart"]] == [("run", "%i")]
    assert "Service.ExecStartPre" not in unit  # every minute: no schema change from a timer
    assert "Service.Restart" not in unit  # the next run of the timer is the retry


def test_scheduler_service_upgrades_the_schema_then_runs_the_scheduler() -> None:
    unit = read_unit(SYSTEMD / "retention-scheduler.service")
    assert one(unit, "Service.Type") == "exec"
    assert [exec_argv(value) for value in unit["Service.ExecStartPre"]] == [("db", "upgrade")]
    assert [exec_argv(value) for value in unit["Service.ExecStart"]] == [("scheduler",)]
    assert one(unit, "Service.Restart") == "on-failure"
    assert seconds(one(unit, "Service.RestartSec")) > 0
    assert one(unit, "Install.WantedBy") == "multi-user.target"
    name, port = one(unit, "Service.Environment").split("=")
    assert load_settings(environ={name: port}).metrics.port > 0
    assert f"http://127.0.0.1:{port}/metrics" in SECTION


# Kubernetes.

WORKLOADS = [document for _, document in workloads()]


def test_manifests_are_workloads_the_reports_claim_and_no_secret() -> None:
    kinds = {(document["apiVersion"], document["kind"]) for document in WORKLOADS}
    assert kinds == {("batch/v1", "CronJob"), ("batch/v1", "Job"), ("apps/v1", "Deployment")}
    others = [document for _, document in manifests() if document not in WORKLOADS]
    assert [(d["apiVersion"], d["kind"]) for d in others] == [("v1", "PersistentVolumeClaim")]
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert not re.search(r"^kind:\s*Secret\b", path.read_text(), re.MULTILINE), path


def test_cronjobs_run_each_job_on_its_configured_schedule() -> None:
    by_job: dict[str, Document] = {}
    for cronjob in of_kind("CronJob"):
        argv = container_argv(container(cronjob))
        if argv[0] == "run":
            assert argv[1] not in by_job, argv
            by_job[argv[1]] = cronjob
    assert set(by_job) == set(JOBS)
    for job, cronjob in by_job.items():
        assert container_argv(container(cronjob)) == ("run", job)  # nothing more
        assert cronjob["spec"]["schedule"] == SCHEDULES[job]


@pytest.mark.parametrize("cronjob", of_kind("CronJob"), ids=lambda d: d["metadata"]["name"])
def test_cronjobs_never_overlap_and_drop_late_runs(cronjob: Document) -> None:
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert isinstance(spec["startingDeadlineSeconds"], int) and spec["startingDeadlineSeconds"] > 0
    assert spec["timeZone"] == DEFAULTS.scheduler.timezone
    assert spec["jobTemplate"]["spec"]["backoffLimit"] == 0  # the next run is the retry
    pod = pod_spec(cronjob)
    assert pod["restartPolicy"] == "Never"
    if container_argv(container(cronjob))[0] == "run":
        assert pod["terminationGracePeriodSeconds"] >= 60  # to finish the batch in flight


@pytest.mark.parametrize("workload", WORKLOADS, ids=lambda d: d["metadata"]["name"])
def test_pods_run_as_non_root_with_the_secrets_from_secret_key_refs(workload: Document) -> None:
    pod = pod_spec(workload)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid() != 0
    # Services of the namespace would add RETENTION_..._PORT variables, which the tool refuses.
    assert pod["enableServiceLinks"] is False
    assert pod["automountServiceAccountToken"] is False
    each = container(workload)
    assert each["securityContext"]["allowPrivilegeEscalation"] is False
    assert each["securityContext"]["readOnlyRootFilesystem"] is True
    assert each["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert each["resources"]["requests"]["cpu"] and each["resources"]["requests"]["memory"]
    assert each["resources"]["limits"]["memory"]
    env = container_env(each)
    assert "RETENTION_DATABASE_URL" in env
    if container_argv(each)[0] in ("run", "scheduler"):
        assert "RETENTION_SUBJECT_KEY" in env
    secret, keys = readme_secret()
    for name in SECRETS:
        if name in env:
            assert set(env[name]) == {"name", "valueFrom"}, name
            reference = env[name]["valueFrom"]["secretKeyRef"]
            assert reference["name"] == secret and reference["key"] in keys, name


def test_the_readme_creates_the_secret_with_every_key_the_pods_read() -> None:
    referenced = {
        (entry["valueFrom"]["secretKeyRef"]["name"], entry["valueFrom"]["secretKeyRef"]["key"])
        for workload in WORKLOADS
        for entry in container_env(container(workload)).values()
        if "secretKeyRef" in entry.get("valueFrom", {})
    }
    secret, keys = readme_secret()
    assert referenced == {(secret, key) for key in keys}


def test_scheduler_deployment_is_one_replica_with_a_liveness_probe_on_metrics() -> None:
    (deployment,) = of_kind("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] >= 60  # to finish a batch
    scheduler = container(deployment)
    assert container_argv(scheduler) == ("scheduler",)
    values = {name: e["value"] for name, e in container_env(scheduler).items() if "value" in e}
    settings = load_settings(
        environ={n: v for n, v in values.items() if n.startswith("RETENTION_")}
    )
    assert values["RETENTION_METRICS_ADDRESS"] == settings.metrics.address == "0.0.0.0"
    assert settings.metrics.port > 0
    probe = scheduler["livenessProbe"]["httpGet"]
    assert probe["path"] == "/metrics"
    named = {port.get("name"): port["containerPort"] for port in scheduler["ports"]}
    assert named.get(probe["port"], probe["port"]) == settings.metrics.port


def _runs_the_report(workload: Document) -> bool:
    """Whether the pod runs the report job: `run report`, or the scheduler (every job)."""
    return container_argv(container(workload)) in {("run", "report"), ("scheduler",)}


def test_the_reports_claim_is_read_write_once_in_a_file_of_its_own() -> None:
    (claim,) = of_kind("PersistentVolumeClaim")
    spec = claim["spec"]
    assert spec["accessModes"] == ["ReadWriteOnce"]
    assert re.fullmatch(r"\d+[MG]i", spec["resources"]["requests"]["storage"])
    # Deleting the jobs (cronjobs.yaml, scheduler.yaml) leaves the reports.
    (name,) = [name for name, document in manifests() if document == claim]
    assert [document for file, document in manifests() if file == name] == [claim]
    # Its comment says how to read the files out, from the path the pods mount.
    comment = (KUBERNETES / name).read_text().split("\napiVersion:", 1)[0]
    mounts = {mount for workload in WORKLOADS for mount in mounted_claims(pod_spec(workload))}
    assert copied_paths(comment) and set(copied_paths(comment)) == mounts


@pytest.mark.parametrize(
    "workload", [w for w in WORKLOADS if _runs_the_report(w)], ids=lambda d: d["metadata"]["name"]
)
def test_pods_that_run_the_report_write_it_to_the_claim(workload: Document) -> None:
    (claim,) = of_kind("PersistentVolumeClaim")
    each = container(workload)
    # The root file system is read-only: the folder must be on the claim, mounted writable.
    assert each["securityContext"]["readOnlyRootFilesystem"] is True
    (value,) = [e["value"] for name, e in container_env(each).items() if name == REPORTS_VARIABLE]
    folder = (
        Path(each.get("workingDir", image_workdir()))
        / load_settings(environ={REPORTS_VARIABLE: value}).jobs.report.folder
    )
    assert mounted_claims(pod_spec(workload)) == {str(folder): (claim["metadata"]["name"], False)}
    # The volume's files belong to the pod's group, so the non-root user may write them.
    assert pod_spec(workload)["securityContext"]["fsGroup"] == image_gid()


def test_only_the_pods_that_write_reports_mount_the_claim() -> None:
    # ReadWriteOnce: the pods that mount it must share a node, so no other pod holds it.
    for workload in WORKLOADS:
        if not _runs_the_report(workload):
            assert mounted_claims(pod_spec(workload)) == {}, workload["metadata"]["name"]
            assert REPORTS_VARIABLE not in container_env(container(workload))


def test_the_readme_reads_the_reports_from_a_pod_that_mounts_the_claim_read_only() -> None:
    (claim,) = of_kind("PersistentVolumeClaim")
    (scheduler,) = of_kind("Deployment")
    (mount,) = mounted_claims(pod_spec(scheduler))
    assert copied_paths(SECTION) and set(copied_paths(SECTION)) == {mount}
    ((name, override),) = reader_pods()
    assert override["apiVersion"] == "v1"
    pod = override["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == image_uid()
    assert pod["automountServiceAccountToken"] is False
    # --override-type=strategic merges the container by name into the one `kubectl run NAME`
    # makes (with its image and command): the same name, or a second container without image.
    assert "--override-type=strategic" in SECTION
    (reader,) = pod["containers"]
    assert reader["name"] == name and "image" not in reader
    assert reader["securityContext"]["allowPrivilegeEscalation"] is False
    assert reader["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert mounted_claims(pod) == {mount: (claim["metadata"]["name"], True)}
    (volume,) = pod["volumes"]
    assert volume["persistentVolumeClaim"]["readOnly"] is True
    assert f"kubectl cp {name}:{mount} " in SECTION and f"kubectl delete pod {name}" in SECTION


def test_db_upgrade_job_upgrades_the_schema_with_the_url_only() -> None:
    (job,) = of_kind("Job")
    upgrade = container(job)
    assert container_argv(upgrade) == ("db", "upgrade")
    assert "RETENTION_SUBJECT_KEY" not in container_env(upgrade)
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_every_pod_runs_the_image_the_readme_builds() -> None:
    (image,) = {container(workload)["image"] for workload in WORKLOADS}
    assert f"docker build -f deploy/Containerfile -t {image} ." in SECTION
    assert f"image: {image}|" in SECTION  # the sed line that names your registry's copy


# The container.


def test_container_is_a_slim_python_image_running_the_scheduler_as_non_root() -> None:
    bases = [arguments for instruction, arguments in containerfile() if instruction == "FROM"]
    assert bases
    for base in bases:
        match = re.fullmatch(r"python:3\.(\d+)(\.\d+)?-slim(-\w+)?( (?i:as) \w+)?", base)
        assert match is not None and int(match.group(1)) >= 11, base
    assert image_uid() > 0
    assert image_command() == ("scheduler",)
    assert containerfile_env()["PATH"].startswith(f"{Path(BINARY).parent}:")
    assert last_stage()["STOPSIGNAL"] == ["SIGTERM"]
    # Only the package's sources, never the whole context (a local *.db holds personal data).
    for instruction, arguments in containerfile():
        if instruction == "COPY" and not arguments.startswith("--from="):
            assert "." not in shlex.split(arguments)[:-1], arguments


def test_container_installs_with_the_readme_production_install_word_for_word() -> None:
    (install,) = [
        arguments
        for instruction, arguments in containerfile()
        if instruction == "RUN" and "pip install" in arguments
    ]
    section_code = {line.strip() for block in code_blocks(SECTION) for line in block.splitlines()}
    assert install in section_code
    # It installs where the crontab and the units run the tool from.
    venv = re.fullmatch(r"python3 -m venv (\S+) && \1/bin/pip install \.", install)
    assert venv is not None and f"{venv.group(1)}/bin/retention" == BINARY


# The README's section.


def test_readme_deployment_comes_right_before_exit_codes() -> None:
    headings = re.findall(r"^## (.+)$", README, flags=re.MULTILINE)
    assert headings[headings.index("Deployment") + 1] == "Exit codes"


@pytest.mark.parametrize("way", ["cron", "systemd", "Kubernetes", "Container"])
def test_readme_has_a_numbered_list_for_each_way(way: str) -> None:
    subsection = SECTION.split(f"\n### {way}\n", 1)[1].split("\n### ", 1)[0]
    steps = re.findall(r"^(\d+)\. ", subsection, flags=re.MULTILINE)
    assert len(steps) >= 4 and steps == [str(n) for n in range(1, len(steps) + 1)]
    for step in ("retention db upgrade", "status", "Stop"):
        assert step in subsection, step


def test_readme_says_a_store_may_be_shared_and_one_replica_is_for_efficiency() -> None:
    text = " ".join(SECTION.split())
    assert "each run takes its job's lock" in text
    assert "for efficiency only, not for correctness" in text

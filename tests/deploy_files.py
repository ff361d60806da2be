"""Readers of the deployment examples in deploy/ and of the README's "Deployment" section, for
tests/test_deploy.py: cron expressions and the crontab, systemd units, Kubernetes manifests,
the Containerfile, and the `retention ...` command lines and RETENTION_* variables they hold.
deploy/postgres-roles.sql is tests/test_roles.py's (it runs the file on PostgreSQL)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[1]
DEPLOY = ROOT / "deploy"
CRONTAB = DEPLOY / "crontab"
CONTAINERFILE = DEPLOY / "Containerfile"
ROLES_SQL = DEPLOY / "postgres-roles.sql"
SYSTEMD = DEPLOY / "systemd"
KUBERNETES = DEPLOY / "kubernetes"
README = (ROOT / "README.md").read_text()
SECTION = README.split("\n## Deployment\n", 1)[1].split("\n## ", 1)[0]

# Where the files expect the production install.
BINARY = "/opt/retention/bin/retention"

Unit = dict[str, list[str]]
Document = dict[str, Any]


def unit_files() -> list[Path]:
    return sorted([*SYSTEMD.glob("*.service"), *SYSTEMD.glob("*.timer")])


def manifest_files() -> list[Path]:
    return sorted(KUBERNETES.glob("*.yaml"))


def code_blocks(text: str) -> list[str]:
    """The fenced code blocks of a Markdown text (indented ones in lists too)."""
    return re.findall(r"^ *```\n(.*?)^ *```$", text, flags=re.DOTALL | re.MULTILINE)


# Cron expressions, read the way cron reads them (numbers, *, ranges, lists and steps).

CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)


def _cron_values(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in field.split(","):
        base, slash, step = part.partition("/")
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = int(first), int(last)
        else:
            start = int(base)
            end = high if slash else start
        if not low <= start <= end <= high or (slash and int(step) < 1):
            raise ValueError(f"{part!r} is out of range {low}-{high}")
        values.update(range(start, end + 1, int(step) if slash else 1))
    return values


def cron_sets(expression: str) -> list[set[int]]:
    """The values of each of the five fields; ValueError when `expression` is not valid."""
    fields = expression.split()
    if len(fields) != len(CRON_FIELDS):
        raise ValueError(f"{expression!r} is not a five-field cron expression")
    sets = [
        _cron_values(field, low, high)
        for field, (_, low, high) in zip(fields, CRON_FIELDS, strict=True)
    ]
    if 7 in sets[4]:  # Sunday is 0 or 7
        sets[4].add(0)
    return sets


def cron_times(expression: str, after: datetime, count: int) -> list[datetime]:
    """The next `count` minutes after `after` at which cron runs `expression`."""
    minutes, hours, days, months, weekdays = cron_sets(expression)
    fields = expression.split()
    either_day = fields[2] != "*" and fields[4] != "*"  # then cron runs when either matches
    times: list[datetime] = []
    moment = after.replace(second=0, microsecond=0)
    while len(times) < count:
        moment += timedelta(minutes=1)
        day, weekday = moment.day in days, moment.isoweekday() % 7 in weekdays
        date_matches = (day or weekday) if either_day else (day and weekday)
        if moment.minute in minutes and moment.hour in hours and moment.month in months:
            if date_matches:
                times.append(moment)
    return times


@dataclass(frozen=True, slots=True)
class CronEntry:
    line: int
    expression: str  # the five fields
    user: str
    command: str


def crontab_entries() -> list[CronEntry]:
    """The job lines of deploy/crontab, an /etc/cron.d file (five fields, a user, a command)."""
    entries = []
    for number, line in enumerate(CRONTAB.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"[A-Za-z_][A-Za-z0-9_]*=", line):  # SHELL=, PATH=, HOME=
            continue
        *fields, user, command = line.split(None, 6)
        entries.append(CronEntry(number, " ".join(fields), user, command))
    return entries


# systemd units.


def read_unit(path: Path, instance: str = "") -> Unit:
    """The unit's settings by "Section.Key" (a key may repeat), %i replaced by `instance`."""
    settings: Unit = {}
    section = ""
    for raw in path.read_text().replace("%i", instance).splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return settings


def one(unit: Unit, key: str) -> str:
    (value,) = unit[key]
    return value


def timers() -> dict[str, Unit]:
    return {path.name: read_unit(path) for path in sorted(SYSTEMD.glob("*.timer"))}


def timer_job(timer: Unit) -> str:
    """The job of the retention-run@JOB.service instance a timer starts."""
    match = re.fullmatch(r"retention-run@(\w+)\.service", one(timer, "Timer.Unit"))
    assert match is not None, timer
    return match.group(1)


def seconds(timespan: str) -> int:
    """A systemd time span ("2min", "30s", "1min 30s") in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    return sum(int(n) * units[unit] for n, unit in re.findall(r"(\d+)\s*([a-z]*)", timespan))


def exec_argv(value: str) -> tuple[str, ...]:
    """The arguments after BINARY of an ExecStart=/ExecStartPre= value (prefixes dropped)."""
    program, *arguments = shlex.split(value.lstrip("-@:+!"))
    assert program == BINARY, value
    return tuple(arguments)


# Kubernetes manifests.


def manifests() -> list[tuple[str, Document]]:
    """(file name, document) of every document of deploy/kubernetes/*.yaml."""
    documents = []
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                documents.append((path.name, document))
    return documents


# The kinds that run a pod; the rest (the reports' PersistentVolumeClaim) hold no container.
WORKLOAD_KINDS = frozenset({"CronJob", "Job", "Deployment"})


def workloads() -> list[tuple[str, Document]]:
    """(file name, document) of the manifests' documents that run a pod."""
    return [
        (name, document) for name, document in manifests() if document["kind"] in WORKLOAD_KINDS
    ]


def of_kind(kind: str) -> list[Document]:
    return [document for _, document in manifests() if document["kind"] == kind]


def pod_spec(document: Document) -> Document:
    spec: Document = document["spec"]
    if document["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod: Document = spec["template"]["spec"]
    return pod


def container(document: Document) -> Document:
    (only,) = pod_spec(document)["containers"]
    assert isinstance(only, dict)
    return only


def container_env(of: Document) -> dict[str, Document]:
    return {entry["name"]: entry for entry in of.get("env", [])}


def container_argv(of: Document) -> tuple[str, ...]:
    command = [*of.get("command", []), *of.get("args", [])]
    assert command[0] == "retention", of["name"]
    return tuple(command[1:])


def mounted_claims(pod: Document) -> dict[str, tuple[str, bool]]:
    """The PersistentVolumeClaims the one container of a pod spec mounts: mount path ->
    (claim, read-only)."""
    claims = {
        volume["name"]: volume["persistentVolumeClaim"]["claimName"]
        for volume in pod.get("volumes", [])
        if "persistentVolumeClaim" in volume
    }
    (only,) = pod["containers"]
    return {
        mount["mountPath"]: (claims[mount["name"]], mount.get("readOnly", False))
        for mount in only.get("volumeMounts", [])
        if mount["name"] in claims
    }


def readme_secret() -> tuple[str, set[str]]:
    """The name and keys of the Secret that the README's `kubectl create secret` creates."""
    (command,) = re.findall(r"^\s*kubectl create secret generic .*$", SECTION, re.MULTILINE)
    name, *sources = shlex.split(command)[4:]
    keys = set()
    for source in sources:
        option, _, value = source.partition("=")
        assert option in ("--from-file", "--from-literal"), source
        keys.add(value.split("=", 1)[0])
    return name, keys


# The Containerfile.


def containerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Containerfile, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, arguments = line.strip().partition(" ")
            instructions.append((instruction.upper(), arguments.strip()))
    return instructions


def last_stage() -> dict[str, list[str]]:
    """The final stage's instructions: INSTRUCTION -> the arguments of each."""
    instructions = containerfile()
    start = max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM")
    stage: dict[str, list[str]] = {}
    for instruction, arguments in instructions[start:]:
        stage.setdefault(instruction, []).append(arguments)
    return stage


def containerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, arguments in containerfile():
        if instruction == "ENV":
            for word in shlex.split(arguments):
                name, _, value = word.partition("=")
                env[name] = value
    return env


def image_uid() -> int:
    return int(last_stage()["USER"][-1].split(":")[0])


def image_gid() -> int:
    return int(last_stage()["USER"][-1].split(":")[1])


def image_workdir() -> str:
    return last_stage()["WORKDIR"][-1]


def image_command() -> tuple[str, ...]:
    """The arguments after `retention` the image runs by default (ENTRYPOINT + CMD)."""
    stage = last_stage()
    assert json.loads(stage["ENTRYPOINT"][-1]) == ["retention"]
    return tuple(json.loads(stage["CMD"][-1]))


# `retention ...` command lines.


@dataclass(frozen=True, slots=True)
class Invocation:
    where: str  # file:line, or file and the object holding it
    argv: tuple[str, ...]  # the arguments after the program


# The program followed by an argument: written out (/opt/retention/bin/retention), or bare where
# a command starts (a line, a code span, after `kubectl exec ... --` or `docker exec NAME`);
# elsewhere a bare "retention" is the user (`useradd ... retention`, `--gid retention`).
_PROGRAM = re.compile(
    r"(?:(?<![\w/])/opt/retention/bin/retention|(?:^\s*|`|\s--\s+|\bdocker exec \S+\s+)retention)"
    r"(?=\s+[\w-])"
)
# `docker run ... IMAGE ARGS`: the image's entrypoint is `retention`.
_IMAGE_RUN = re.compile(r"\bdocker run\b.*?\slead-retention:\S+(?=\s+[\w-])")
_REDIRECTION = re.compile(r"(?<=\s)\d*[<>]&?\S*")
_SHELL_OPERATORS = frozenset("();<>|&")


def _arguments(rest: str) -> tuple[str, ...]:
    """The words at the start of `rest` up to the end of its code span, a shell operator (a
    pipe, &&, ;) or a redirection."""
    words = _REDIRECTION.sub(" ", rest.split("`", 1)[0])
    lexer = shlex.shlex(words, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    arguments: list[str] = []
    for token in lexer:
        if set(token) <= _SHELL_OPERATORS:
            break
        arguments.append(token)
    return tuple(arguments)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(number of its first line, line) with shell continuation lines (a final \\) joined."""
    pending, start = "", 0
    for number, line in enumerate(text.splitlines(), 1):
        start = start or number
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        yield start, pending + line
        pending, start = "", 0


def invocations_in_text(name: str, text: str) -> list[Invocation]:
    found = []
    for number, line in _logical_lines(text):
        for match in [*_PROGRAM.finditer(line), *_IMAGE_RUN.finditer(line)]:
            found.append(Invocation(f"{name}:{number}", _arguments(line[match.end() :])))
    return found


def invocations() -> list[Invocation]:
    """Every `retention ...` command line of deploy/ and of the README's section: in shell lines
    and code spans (comments too), ExecStart=/ExecStartPre=, containers' command and args, and
    the image's ENTRYPOINT and CMD. retention-run@.service is read once per timer's job."""
    found: list[Invocation] = []
    for path in [CRONTAB, CONTAINERFILE, *manifest_files()]:
        found += invocations_in_text(path.relative_to(ROOT).as_posix(), path.read_text())
    jobs = [timer_job(timer) for timer in timers().values()]
    for path in unit_files():
        for instance in jobs if path.name.endswith("@.service") else [""]:
            where = f"{path.relative_to(ROOT).as_posix()}{f'[{instance}]' if instance else ''}"
            found += invocations_in_text(where, path.read_text().replace("%i", instance))
            unit = read_unit(path, instance)
            for key in ("Service.ExecStartPre", "Service.ExecStart"):
                found += [Invocation(f"{where} {key}", exec_argv(v)) for v in unit.get(key, [])]
    for name, document in workloads():
        where = f"deploy/kubernetes/{name} {document['metadata']['name']}"
        found += [Invocation(where, container_argv(c)) for c in pod_spec(document)["containers"]]
    found.append(Invocation("deploy/Containerfile ENTRYPOINT, CMD", image_command()))
    found += invocations_in_text("README.md, Deployment", SECTION)
    return found


# RETENTION_* variables.

_VARIABLE = re.compile(r"\bRETENTION_[A-Z0-9_]*[A-Z0-9]\b")


def texts() -> Iterator[tuple[str, str]]:
    for path in [CRONTAB, CONTAINERFILE, *unit_files(), *manifest_files()]:
        yield path.relative_to(ROOT).as_posix(), path.read_text()
    yield "README.md, Deployment", SECTION


def variables_named() -> list[tuple[str, str]]:
    """(variable, where) of every RETENTION_* name the files and the section mention."""
    return sorted({(name, where) for where, text in texts() for name in _VARIABLE.findall(text)})


def variables_set() -> list[tuple[str, str, str]]:
    """(where, variable, value) of every RETENTION_* variable given a value: Environment= of
    the units, ENV of the Containerfile, env values of the manifests, `-e NAME=VALUE` in the
    README's section."""
    found: list[tuple[str, str, str]] = []
    for path in unit_files():
        for assignment in read_unit(path).get("Service.Environment", []):
            for word in shlex.split(assignment):
                name, _, value = word.partition("=")
                found.append((path.name, name, value))
    found += [("Containerfile", name, value) for name, value in containerfile_env().items()]
    for file_name, document in workloads():
        for each in pod_spec(document)["containers"]:
            for entry in each.get("env", []):
                if "value" in entry:
                    found.append((file_name, entry["name"], entry["value"]))
    for name, value in re.findall(r"-e (RETENTION_\w+)=(\S+)", SECTION):
        found.append(("README.md", name, value))
    return [item for item in found if item[1].startswith("RETENTION_")]


# Reading the reports out of the claim.


def reader_pods() -> list[tuple[str, Document]]:
    """(name, override) of each `kubectl run NAME ... --overrides='JSON'` of the README's
    section: a pod that mounts the reports' claim for `kubectl cp`."""
    found = re.findall(r"kubectl run (\S+) .*?--overrides='(.*?)'", SECTION, re.DOTALL)
    return [(name, json.loads(override)) for name, override in found]


def copied_paths(text: str) -> list[str]:
    """The paths in the pod of each `kubectl cp POD:PATH DESTINATION` of `text`."""
    return re.findall(r"kubectl cp .*?:(/\S+) \S+$", text, re.MULTILINE)

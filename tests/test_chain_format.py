"""The README's "The audit chain's format": its script, run in an interpreter that cannot see
this package, gives the verdicts of `retention audit verify`, on a SQLite store and on a
PostgreSQL store exported as the README says."""

from __future__ import annotations

import ast
import csv
import doctest
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from freezegun import freeze_time
from sqlalchemy import Connection, Engine, delete, select, update

from retention.domain.audit_chain import GENESIS_HASH, EventDraft, canonical_details, event_hash
from retention.services.demo import example_files
from retention.storage.audit import append_events, iter_events
from retention.storage.schema import audit_events, audit_head
from tests.cli_helpers import json_out, run
from tests.conftest import FROZEN_NOW, audit_tampering

README = Path(__file__).parents[1] / "README.md"
SECTION = "\n## The audit chain's format\n"
# -I: no PYTHON* variables, no user site, not the script's folder; -S: no site-packages either,
# so not this package (installed there in development mode).
ISOLATED = ("-I", "-S")
HELD_LEAD = "00000000-0000-4000-8000-000000000011"
ERASED_EMAIL = "jeanne.exemple@example.com"
PURGE_TIME = "2029-06-01T10:00:00+00:00"  # every example lead is past its TTL


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    assert SECTION in text, "the README has no section on the audit chain's format"
    return text.split(SECTION, 1)[1].split("\n## ", 1)[0]


def _block(marker: str) -> str:
    """The fenced block right after `<!-- marker -->` in that section."""
    found = re.search(rf"<!-- {re.escape(marker)} -->\n```[a-z]*\n(.*?)```\n", _section(), re.S)
    assert found, f"no block marked {marker!r} in the README's chain format section"
    return found.group(1)


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    events: int
    head: str | None  # ID:HASH, when ok
    first_bad_event: int | None
    problem: str | None
    exit_code: int


def _tool(environ: dict[str, str], anchor: str | None = None) -> Verdict:
    result = run(["audit", "verify", "--json", *(["--anchor", anchor] if anchor else [])], environ)
    document = json_out(result)
    head = f"{document['head']['event_id'] or 0}:{document['head']['hash']}"
    return Verdict(
        document["ok"],
        document["events"],
        head if document["ok"] else None,
        document["first_bad_event"],
        document["problem"],
        result.exit_code,
    )


OK_LINE = re.compile(r"ok: (\d+) events, head (\d+:[0-9a-f]{64})\n")
BROKEN_LINE = re.compile(r"broken at event (\d+): (.+) \((\d+) events verified before it\)\n")


def _run_script(folder: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    script = folder / "verify_chain.py"
    script.write_text(_block("verify_chain.py"), encoding="utf-8")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    return subprocess.run(
        [sys.executable, *ISOLATED, str(script), *args],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _script(folder: Path, args: list[str]) -> Verdict:
    done = _run_script(folder, args)
    if ok := OK_LINE.fullmatch(done.stdout):
        return Verdict(True, int(ok[1]), ok[2], None, None, done.returncode)
    broken = BROKEN_LINE.fullmatch(done.stdout)
    assert broken, f"unexpected output {done.stdout!r}, stderr {done.stderr!r}"
    return Verdict(False, int(broken[3]), None, int(broken[1]), broken[2], done.returncode)


# PostgreSQL: the export the README documents, through psql or through SQLAlchemy.


def _export_with_psql(engine: Engine, folder: Path) -> None:
    url = engine.url
    options = url.query.get("options")
    libpq = url.set(drivername="postgresql").difference_update_query(["options"])
    environment = {
        **os.environ,
        "DATABASE_URL": libpq.render_as_string(hide_password=False),
        "PGOPTIONS": str(options or ""),  # search_path: the tests' schema
        "PGTZ": "America/Sao_Paulo",  # a session time zone that is not UTC
    }
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + _block("export-postgresql")],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def _export_with_sqlalchemy(engine: Engine, folder: Path) -> None:
    """The SELECTs of the README's \\copy commands, written as psql's CSV would be."""
    found = re.findall(r"\\copy \((SELECT .*?)\) TO '(\w+\.csv)' CSV", _block("export-postgresql"))
    assert [name for _, name in found] == ["events.csv", "head.csv"]
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        conn.exec_driver_sql("SET TIME ZONE 'America/Sao_Paulo'")  # not UTC, like PGTZ above
        for query, name in found:
            rows = conn.exec_driver_sql(query.replace('\\"', '"')).all()
            with (folder / name).open("w", newline="", encoding="utf-8") as file:
                csv.writer(file, lineterminator="\n").writerows(rows)


EXPORTERS: dict[str, Callable[[Engine, Path], None]] = {
    "psql": _export_with_psql,
    "sqlalchemy": _export_with_sqlalchemy,
}


def _store_args(engine: Engine, folder: Path, exporter: str | None = None) -> list[str]:
    """The script's arguments for this store: the SQLite file, or PostgreSQL's export."""
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        return [engine.url.database]
    exporter = exporter or ("psql" if shutil.which("psql") else "sqlalchemy")
    EXPORTERS[exporter](engine, folder)
    return ["--csv", str(folder / "events.csv"), str(folder / "head.csv")]


def _verdicts(
    engine: Engine, environ: dict[str, str], folder: Path, anchor: str | None = None
) -> tuple[Verdict, Verdict]:
    tool = _tool(environ, anchor)
    script = _script(folder, [*_store_args(engine, folder), *([anchor] if anchor else [])])
    return tool, script


# The store: real events from the tool.

ODD_EVENT = EventDraft(
    # A fraction of a second just before midnight (dropped, not rounded), a lead id and
    # details with characters beyond ASCII, a request id.
    occurred_at=datetime(2029, 6, 1, 23, 59, 59, 999_999, tzinfo=UTC),
    action="hold.placed",
    details=canonical_details({"hold_id": 2, "note": "café ☕", "target": "lead_id"}),
    lead_id="lead-é-0001",
    request_id=7,
)


def _build_store(engine: Engine, environ: dict[str, str]) -> list[str]:
    """An import (one lead arrives erased), a hold, an erasure, a purge that skips the held
    lead, all through the command line; then one odd event. Returns the heads published."""
    published = []
    with freeze_time(FROZEN_NOW):
        commands = [
            ["import", *example_files()],
            ["hold", "place", "--lead-id", HELD_LEAD, "--reason", "case 2026-114"],
            ["erase", "--email", ERASED_EMAIL],
        ]
        for args in commands:
            result = run([*args, "--json"], environ)
            assert result.exit_code == 0, result.output
            published.append(json_out(result)["audit_head"])
    with freeze_time(PURGE_TIME):
        result = run(["purge", "--force", "--json"], environ)
        assert result.exit_code == 0, result.output
        published.append(json_out(result)["audit_head"])
    with engine.begin() as conn:
        append_events(conn, [ODD_EVENT])
    return [f"{head['event_id']}:{head['hash']}" for head in published]


def _ids(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.scalars(select(audit_events.c.id).order_by(audit_events.c.id)))


def _swap(conn: Connection, first: int, second: int) -> None:
    """Exchange two events' contents: each id now holds the other's event."""
    rows = {
        row.id: row._mapping
        for row in conn.execute(select(audit_events).where(audit_events.c.id.in_([first, second])))
    }
    columns = [column.name for column in audit_events.c if column.name != "id"]
    for target, source in ((first, second), (second, first)):
        values = {name: rows[source][name] for name in columns}
        conn.execute(update(audit_events).where(audit_events.c.id == target).values(values))


def _set_head_to_last_event(conn: Connection) -> None:
    last_id, last_hash = conn.execute(
        select(audit_events.c.id, audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)
    ).one()
    conn.execute(update(audit_head).values(event_id=last_id, hash=last_hash))


def _rewrite_whole_chain(conn: Connection) -> None:
    """Change event 1 and recompute every hash after it, the head too: consistent alone."""
    events = list(iter_events(conn))
    prev_hash = GENESIS_HASH
    for index, (event_id, draft, _, _) in enumerate(events):
        if index == 0:
            draft = replace(draft, details=canonical_details({"rewritten": True}))
        digest = event_hash(prev_hash, draft)
        conn.execute(
            update(audit_events)
            .where(audit_events.c.id == event_id)
            .values(details=draft.details, prev_hash=prev_hash, hash=digest)
        )
        prev_hash = digest
    _set_head_to_last_event(conn)


# The tests.


def test_the_script_needs_only_the_standard_library() -> None:
    tree = ast.parse(_block("verify_chain.py"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported and imported <= sys.stdlib_module_names, imported
    probe = subprocess.run(
        [sys.executable, *ISOLATED, "-c", "import retention"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 1 and "No module named 'retention'" in probe.stderr


def test_the_worked_example_is_the_tools_hash() -> None:
    example = _block("chain-example")
    test = doctest.DocTestParser().get_doctest(example, {}, "chain-example", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.REPORT_NDIFF)
    runner.run(test, out=lambda _: None)
    assert (runner.failures, runner.tries) == (0, 3)
    draft = EventDraft(
        datetime(2026, 1, 15, 12, 0, tzinfo=UTC),
        "hold.placed",
        canonical_details({"hold_id": 1, "target": "lead_id", "until": None}),
        lead_id=HELD_LEAD,
    )
    assert f"'{event_hash(GENESIS_HASH, draft)}'" in example


def test_an_empty_chain_is_ok(engine: Engine, environ: dict[str, str], tmp_path: Path) -> None:
    tool, script = _verdicts(engine, environ, tmp_path)
    assert tool == script == Verdict(True, 0, f"0:{GENESIS_HASH}", None, None, 0)


def test_an_intact_store_is_ok_with_the_same_count_and_head(
    engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    _build_store(engine, environ)
    ids = _ids(engine)
    with engine.connect() as conn:
        actions = {draft.action for _, draft, _, _ in iter_events(conn)}
    assert {"lead.erased", "hold.placed", "lead.purged", "lead.hold_skipped"} <= actions
    tool, script = _verdicts(engine, environ, tmp_path)
    assert tool.ok and tool.events == len(ids) == ids[-1] and tool.head
    assert script == tool


def _alter(conn: Connection, ids: list[int]) -> int:
    conn.execute(
        update(audit_events)
        .where(audit_events.c.id == ids[4])
        .values(details=canonical_details({"category": "AGENCY", "fields": []}))
    )
    return ids[4]


def _delete_in_the_middle(conn: Connection, ids: list[int]) -> int:
    conn.execute(delete(audit_events).where(audit_events.c.id == ids[4]))
    return ids[5]


def _delete_the_last(conn: Connection, ids: list[int]) -> int:
    conn.execute(delete(audit_events).where(audit_events.c.id == ids[-1]))  # audit_head stays
    return ids[-1]


def _swap_two(conn: Connection, ids: list[int]) -> int:
    _swap(conn, ids[4], ids[5])
    return ids[4]


TAMPERING: dict[str, tuple[Callable[[Connection, list[int]], int], str]] = {
    "altered": (_alter, "altered"),
    "deleted-in-the-middle": (_delete_in_the_middle, "missing or reordered"),
    "deleted-the-last": (_delete_the_last, "removed from the end"),
    "swapped": (_swap_two, "missing or reordered"),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_a_tampered_chain_is_broken_at_the_same_first_bad_event(
    engine: Engine, environ: dict[str, str], tmp_path: Path, tampering: str
) -> None:
    _build_store(engine, environ)
    ids = _ids(engine)
    tamper, says = TAMPERING[tampering]
    with engine.begin() as conn, audit_tampering(conn):
        first_bad = tamper(conn, ids)
    tool, script = _verdicts(engine, environ, tmp_path)
    assert (tool.ok, tool.exit_code, tool.first_bad_event) == (False, 1, first_bad)
    assert says in (tool.problem or "")
    assert script == tool


def test_an_anchor_that_matches_is_ok(
    engine: Engine, environ: dict[str, str], tmp_path: Path
) -> None:
    anchor = _build_store(engine, environ)[-1]
    tool, script = _verdicts(engine, environ, tmp_path, anchor)
    assert tool.ok and script == tool


@pytest.mark.parametrize(
    ("change", "says"),
    [("rewritten", "the chain was rewritten"), ("truncated", "truncated")],
    ids=["rewritten", "truncated"],
)
def test_an_anchor_catches_a_chain_consistent_by_itself(
    engine: Engine, environ: dict[str, str], tmp_path: Path, change: str, says: str
) -> None:
    anchor = _build_store(engine, environ)[-1]
    anchored_id = int(anchor.split(":")[0])
    with engine.begin() as conn, audit_tampering(conn):
        if change == "rewritten":
            _rewrite_whole_chain(conn)
        else:
            conn.execute(delete(audit_events).where(audit_events.c.id >= anchored_id))
            _set_head_to_last_event(conn)
    alone = _verdicts(engine, environ, tmp_path)
    assert alone[0].ok and alone[1] == alone[0]
    tool, script = _verdicts(engine, environ, tmp_path, anchor)
    assert (tool.ok, tool.exit_code, tool.first_bad_event) == (False, 1, anchored_id)
    assert says in (tool.problem or "")
    assert script == tool


def test_several_anchors(engine: Engine, environ: dict[str, str], tmp_path: Path) -> None:
    """The script takes every anchor published (the tool one at a time): the first that no
    longer holds is named."""
    anchors = _build_store(engine, environ)
    args = [*_store_args(engine, tmp_path), *anchors]
    assert _script(tmp_path, args).ok
    with engine.begin() as conn, audit_tampering(conn):
        _rewrite_whole_chain(conn)
    args = [*_store_args(engine, tmp_path), *reversed(anchors)]
    broken = _script(tmp_path, args)
    assert (broken.exit_code, broken.first_bad_event) == (1, int(anchors[0].split(":")[0]))
    assert broken.problem == "is not the event the anchor names (the chain was rewritten)"


@pytest.mark.parametrize(
    "anchor",
    ["12", "x:" + "a" * 64, "3:" + "z" * 64, "3:abc"],
    ids=["no-hash", "id-not-a-number", "hash-not-hex", "hash-too-short"],
)
def test_bad_anchors_are_bad_usage(tmp_path: Path, anchor: str) -> None:
    environ = {"RETENTION_DATABASE_URL": f"sqlite:///{tmp_path / 'absent.db'}"}
    assert run(["audit", "verify", "--anchor", anchor], environ).exit_code == 2
    done = _run_script(tmp_path, ["absent.db", anchor])
    assert done.returncode == 2 and "not an anchor ID:HASH" in done.stderr


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("exporter", list(EXPORTERS))
def test_the_postgresql_export_is_the_hashed_text(
    engine: Engine, environ: dict[str, str], tmp_path: Path, exporter: str
) -> None:
    if exporter == "psql" and not shutil.which("psql"):
        pytest.skip("psql is not installed")
    _build_store(engine, environ)
    args = _store_args(engine, tmp_path, exporter)
    with (tmp_path / "events.csv").open(newline="", encoding="utf-8") as file:
        exported = list(csv.reader(file))
    with engine.connect() as conn:
        expected = [
            [
                str(event_id),
                draft.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                draft.action,
                draft.lead_id or "",
                "" if draft.run_id is None else str(draft.run_id),
                "" if draft.request_id is None else str(draft.request_id),
                draft.details,
                prev_hash,
                digest,
            ]
            for event_id, draft, prev_hash, digest in iter_events(conn)
        ]
    assert exported == expected
    assert exported[-1][1:4] == ["2029-06-01T23:59:59Z", "hold.placed", "lead-é-0001"]
    for row in exported:  # what the README says is hashed, from the exported text alone
        content = "\x1f".join([row[7], *row[1:7]]).encode("utf-8")
        assert hashlib.sha256(content).hexdigest() == row[8]
    head = (tmp_path / "head.csv").read_text(encoding="utf-8")
    assert head == f"{expected[-1][0]},{expected[-1][8]}\n"
    assert _script(tmp_path, args) == _tool(environ)

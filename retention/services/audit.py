"""Checking the audit chain, and publishing its head outside the database."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from retention.config import Settings
from retention.domain.audit_chain import ChainBreak, ChainCheck, verify_chain
from retention.domain.events import facet_problem
from retention.errors import InputError
from retention.services.journal import sync_journal
from retention.storage.audit import ChainHead, event_hashes, iter_events, read_head
from retention.storage.engine import READ_ONLY
from retention.storage.meta import get_meta, set_meta
from retention.storage.snapshot import read_snapshot

__all__ = [
    "LAST_FULL_WALK",
    "ChainReport",
    "FullWalk",
    "Published",
    "current_head",
    "parse_anchor",
    "publish_head",
    "read_anchor_file",
    "record_full_walk",
    "verify_audit_chain",
    "verify_audit_chain_since_last",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events: int
    head: ChainHead
    first_bad_event: int | None
    problem: str | None


def parse_anchor(text: str, *, where: str = "--anchor") -> tuple[int, str]:
    """`ID:HASH` as published by a run; `where` names it in the error."""
    event_id, sep, digest = text.strip().partition(":")
    if not sep or not event_id.isdigit() or len(digest) != 64:
        raise InputError(f"{where}: expected ID:HASH (a 64-character hash), got {text!r}")
    try:
        int(digest, 16)
    except ValueError:
        raise InputError(f"{where}: the hash of {text!r} is not hexadecimal") from None
    return int(event_id), digest.lower()


def read_anchor_file(path: Path) -> dict[int, str]:
    """Every head published to an anchor file (lines `<time> <source> <run id> ID:HASH`), by
    event id. Two lines naming one event with different hashes are an error: the file itself
    was tampered with."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not ASCII text"
        raise InputError(f"--anchors {path}: cannot be read: {reason}") from None
    anchors: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        event_id, digest = parse_anchor(line.split()[-1], where=where)
        if anchors.setdefault(event_id, digest) != digest:
            raise InputError(f"{where}: event {event_id} is anchored with two different hashes")
    return anchors


def verify_audit_chain(engine: Engine, *, anchors: Mapping[int, str] | None = None) -> ChainReport:
    """Walk the whole chain; also check it ends at the recorded head (not truncated) and
    holds every anchor."""
    with read_snapshot(engine) as conn:
        recorded = read_head(conn)
        check = verify_chain(iter_events(conn), anchors=anchors, check=facet_problem)
    return _report(check, recorded)


def _report(check: ChainCheck, recorded: ChainHead) -> ChainReport:
    failure: ChainBreak | None = check.first_break
    if failure is None and (check.last_id, check.last_hash) != (recorded.event_id, recorded.hash):
        failure = ChainBreak(
            recorded.event_id,
            f"the chain ends at event {check.last_id or 0}, but the recorded head is event "
            f"{recorded.event_id or 0} (events were removed from the end, or the head was "
            "rewritten)",
        )
    walked = ChainHead(check.last_id, check.last_hash)
    events = check.last_id or 0  # ids are the chain's positions: the events found intact
    if failure is None:
        return ChainReport(True, events, walked, None, None)
    return ChainReport(False, events, walked, failure.event_id, failure.problem)


# store_meta: the head the last full walk found the chain intact up to, and when (`ID:HASH
# TIME`). A quick check (the report) walks on from there if that event still has that hash;
# the published anchors are what proves the part before it was not rewritten since.
LAST_FULL_WALK = "audit_last_full_walk"


@dataclass(frozen=True, slots=True)
class FullWalk:
    """The last walk of the whole chain that found it intact."""

    through: ChainHead
    at: datetime


def record_full_walk(engine: Engine, report: ChainReport, when: datetime) -> None:
    """Remember an intact full walk's head, when the store lets us (a read-only role still
    got its answer)."""
    if not report.ok or report.head.event_id is None:
        return
    try:
        with engine.begin() as conn:
            set_meta(conn, LAST_FULL_WALK, f"{report.head} {when:%Y-%m-%dT%H:%M:%SZ}")
    except DBAPIError as exc:
        logger.debug("could not record the chain's full walk: %s", exc.orig)


def verify_audit_chain_since_last(
    engine: Engine, *, anchors: Mapping[int, str] | None = None
) -> tuple[ChainReport, FullWalk | None]:
    """The chain's state without walking it all again: the events after the head the last
    full walk found intact (all of them if there was none, or that event changed since),
    the anchors before it by their events' stored hashes. Reads only. Returns the state
    and the full walk it builds on."""
    with read_snapshot(engine) as conn:
        recorded = read_head(conn)
        walk = _last_full_walk(conn)
        start = (walk.through.event_id or 0, walk.through.hash) if walk else None
        wanted = dict(anchors or {})
        before = [event_id for event_id in wanted if start is not None and event_id <= start[0]]
        found = event_hashes(conn, before)
        if any(found.get(event_id) != wanted[event_id] for event_id in before):
            walk = start = None  # an anchor no longer holds: walk it all, to name the event
        else:
            for event_id in before:
                del wanted[event_id]
        check = verify_chain(
            iter_events(conn, after=start[0] if start else 0),
            anchors=wanted if start else anchors,
            check=facet_problem,
            start=start,
        )
    return _report(check, recorded), walk


def _last_full_walk(conn: Connection) -> FullWalk | None:
    text = get_meta(conn, LAST_FULL_WALK)
    if not text:
        return None
    head_text, _, when = text.partition(" ")
    event_id, digest = parse_anchor(head_text, where=LAST_FULL_WALK)
    if event_hashes(conn, [event_id]).get(event_id) != digest:
        return None  # rewritten since: walk from the genesis
    at = datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return FullWalk(ChainHead(event_id, digest), at)


def current_head(engine: Engine) -> ChainHead:
    """The chain head as recorded now (a command publishes it after its last append)."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return read_head(conn)


@dataclass(frozen=True, slots=True)
class Published:
    """The chain head a run or command published, and why the audit journal or the anchor
    file could not be written, if one could not (the run or command then exits 1, its work
    done)."""

    head: ChainHead
    error: str | None = None
    journaled: int = 0  # events the journal sync appended (audit.journal_file)


def publish_head(
    settings: Settings,
    engine: Engine,
    head: ChainHead,
    *,
    source: str,
    run_id: int | None,
    when: datetime,
    log: bool = True,
) -> Published:
    """Publish the chain head outside the database after a run or command appended events:
    a log line (unless the caller's own summary line carries it); with `audit.journal_file`,
    every event the journal lacks appended to it and fsynced (services/journal.py); with
    `audit.anchor_file`, the line `<time> <job or command> <run id or -> <event id>:<hash>`
    appended to that file. A journal or anchor file that cannot be written is the result's
    error: publishing is part of the work, so the caller fails (exit 1) after the work."""
    extra = {"command": source} if run_id is None else {"job": source, "run_id": run_id}
    if log:
        logger.info("audit head %s", head, extra=extra)
    errors: list[str] = []
    synced = sync_journal(settings, engine)
    if synced is not None and synced.error is not None:
        errors.append(synced.error)
    path = settings.audit.anchor_file
    if path is not None:
        line = (
            f"{when:%Y-%m-%dT%H:%M:%SZ} {source} {run_id if run_id is not None else '-'} {head}\n"
        )
        try:
            with path.open("a", encoding="ascii") as handle:
                handle.write(line)
        except OSError as exc:
            error = f"could not append the audit head {head} to {path}: {exc.strerror}"
            logger.error("%s", error, extra=extra)
            errors.append(error)
    journaled = synced.written if synced is not None else 0
    return Published(head, "; ".join(errors) or None, journaled)

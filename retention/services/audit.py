"""Checking the audit chain, and publishing its head outside the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from retention.config import Settings
from retention.domain.audit_chain import ChainBreak, verify_chain
from retention.errors import InputError
from retention.storage.audit import ChainHead, iter_events, read_head
from retention.storage.engine import READ_ONLY

__all__ = [
    "ChainReport",
    "Published",
    "current_head",
    "parse_anchor",
    "publish_head",
    "verify_audit_chain",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events: int
    head: ChainHead
    first_bad_event: int | None
    problem: str | None


def parse_anchor(text: str) -> tuple[int, str]:
    """`ID:HASH` as published by a run."""
    event_id, sep, digest = text.strip().partition(":")
    if not sep or not event_id.isdigit() or len(digest) != 64:
        raise InputError(f"--anchor: expected ID:HASH (a 64-character hash), got {text!r}")
    try:
        int(digest, 16)
    except ValueError:
        raise InputError(f"--anchor: the hash of {text!r} is not hexadecimal") from None
    return int(event_id), digest.lower()


def verify_audit_chain(engine: Engine, *, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Walk the whole chain; also check it ends at the recorded head (not truncated)."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        recorded = read_head(conn)
        check = verify_chain(iter_events(conn), anchor=anchor)
    failure: ChainBreak | None = check.first_break
    if failure is None and (check.last_id, check.last_hash) != (recorded.event_id, recorded.hash):
        failure = ChainBreak(
            recorded.event_id,
            f"the chain ends at event {check.last_id or 0}, but the recorded head is event "
            f"{recorded.event_id or 0} (events were removed from the end, or the head was "
            "rewritten)",
        )
    walked = ChainHead(check.last_id, check.last_hash)
    if failure is None:
        return ChainReport(True, check.events, walked, None, None)
    return ChainReport(False, check.events, walked, failure.event_id, failure.problem)


def current_head(engine: Engine) -> ChainHead:
    """The chain head as recorded now (a command publishes it after its last append)."""
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return read_head(conn)


@dataclass(frozen=True, slots=True)
class Published:
    """The chain head a run or command published, and why the anchor file could not be
    written, if it could not (the run or command then exits 1, its work done)."""

    head: ChainHead
    error: str | None = None


def publish_head(
    settings: Settings,
    head: ChainHead,
    *,
    source: str,
    run_id: int | None,
    when: datetime,
    log: bool = True,
) -> Published:
    """Publish the chain head outside the database after a run or command appended events:
    a log line (unless the caller's own summary line carries it) and, with
    `audit.anchor_file`, the line `<time> <job or command> <run id or -> <event id>:<hash>`
    appended to that file. An anchor file that cannot be written is the result's error:
    publishing is part of the work, so the caller fails (exit 1) after the work is done."""
    extra = {"command": source} if run_id is None else {"job": source, "run_id": run_id}
    if log:
        logger.info("audit head %s", head, extra=extra)
    path = settings.audit.anchor_file
    if path is None:
        return Published(head)
    line = f"{when:%Y-%m-%dT%H:%M:%SZ} {source} {run_id if run_id is not None else '-'} {head}\n"
    try:
        with path.open("a", encoding="ascii") as handle:
            handle.write(line)
    except OSError as exc:
        error = f"could not append the audit head {head} to {path}: {exc.strerror}"
        logger.error("%s", error, extra=extra)
        return Published(head, error)
    return Published(head)

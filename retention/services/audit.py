"""Checking the audit chain, and publishing its head outside the database."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from retention.domain.audit_chain import ChainBreak, verify_chain
from retention.errors import InputError
from retention.storage.audit import ChainHead, iter_events, read_head
from retention.storage.engine import READ_ONLY

__all__ = ["ChainReport", "append_anchor", "parse_anchor", "verify_audit_chain"]

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


def append_anchor(path: Path, *, head: ChainHead, job: str, run_id: int, when: datetime) -> None:
    """Append `<time> <job> <run id> <event id>:<hash>` to the anchor file."""
    line = f"{when:%Y-%m-%dT%H:%M:%SZ} {job} {run_id} {head}\n"
    with path.open("a", encoding="ascii") as handle:
        handle.write(line)

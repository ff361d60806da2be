"""Queueing erasure requests for the erasure job: one by hand, or a CSV file of them.

CSV columns `kind,value,received_at,reference` (a header row with these names is optional):
kind is email, phone or lead_id; received_at is a date (YYYY-MM-DD, midnight UTC) or an ISO
8601 date-time (UTC when no zone is given), empty for now. A file is taken whole or not at
all: any bad row is reported by line and column, never by value, and nothing is queued. A
subject that already has an open request (or appears twice in the file) is not queued again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Unpack

from sqlalchemy import Engine

from retention.config import Settings
from retention.domain.requests import REQUEST_KINDS, REQUEST_STATUSES, due_date
from retention.domain.subjects import subject_hash
from retention.errors import InputError
from retention.services.audit import Published, current_head, publish_head
from retention.services.erasure import clean_reference
from retention.services.journal import refuse_if_restored
from retention.services.request_intake import NewRequest, take_in
from retention.services.subject_key import subject_key_for_store
from retention.services.subjects import (
    RequestSubject,
    SubjectArgs,
    checked_region,
    normalized_identifier,
    request_subject_of,
)
from retention.storage.engine import READ_ONLY, transaction
from retention.storage.requests import RequestRow, list_requests, open_requests_for

__all__ = ["QueuedRequest", "RequestImport", "add_request", "import_requests", "requests_of"]

CSV_COLUMNS = ("kind", "value", "received_at", "reference")
MAX_ERRORS_LISTED = 20


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    """What `requests add` did (or, in a dry run, would do)."""

    request_id: int | None  # None: not queued (a duplicate, or a dry run)
    duplicate_of: int | None  # the subject's open request, when it has one
    due_at: datetime | None  # of the request queued (or that a dry run would queue)
    dry_run: bool = False
    published: Published | None = None


@dataclass(frozen=True, slots=True)
class RequestImport:
    """What `requests import` queued (or, in a dry run, would queue)."""

    added: int
    duplicates: int
    request_ids: tuple[int, ...]
    dry_run: bool = False
    published: Published | None = None


def parse_received(text: str, *, now: datetime, where: str) -> datetime:
    """A request's reception time: empty for now; never in the future."""
    text = text.strip()
    if not text:
        return now
    try:
        day = date.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InputError(f"{where}: not a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    else:
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if moment > now:
        raise InputError(f"{where}: in the future")
    return moment


def add_request(
    settings: Settings,
    engine: Engine,
    *,
    now: datetime,
    reference: str | None = None,
    received_at: datetime | None = None,
    dry_run: bool = False,
    **subject: Unpack[SubjectArgs],
) -> QueuedRequest:
    """Queue one request (source `cli`) for the erasure job. A dry run checks the subject
    and tells whether it would be queued, recording nothing."""
    reference = clean_reference(reference)
    received = received_at or now
    if received > now:
        raise InputError("--received-at: in the future")
    refuse_if_restored(settings, engine)
    with transaction(engine, dry_run=dry_run) as conn:
        given = request_subject_of(settings, conn, **subject)
        wanted = NewRequest(given.kind, given.hash, "cli", received, subject=given.value,
                            reference=reference)  # fmt: skip
        if dry_run:
            existing = open_requests_for(conn, [(given.kind, given.hash)])
            duplicate = existing.get((given.kind, given.hash))
            return QueuedRequest(None, duplicate, None if duplicate else due_date(received), True)
        (taken,) = take_in(conn, [wanted], now=now)
    if not taken.recorded:
        return QueuedRequest(None, taken.request_id, None)
    published = publish_head(
        settings, engine, current_head(engine), source="requests add", run_id=None, when=now
    )
    return QueuedRequest(taken.request_id, None, taken.due_at, False, published)


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    kind: str
    value: str
    received_at: str
    reference: str


def _rows(text: str, source: str) -> Iterator[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    for number, cells in enumerate(reader, start=1):
        if not any(cell.strip() for cell in cells):
            continue
        if number == 1 and [c.strip().lower() for c in cells[:2]] == ["kind", "value"]:
            continue  # the header row
        if not 2 <= len(cells) <= len(CSV_COLUMNS):
            raise InputError(
                f"{source}: line {number}: expected the columns {','.join(CSV_COLUMNS)} "
                f"(found {len(cells)})"
            )
        cells = [*cells, *[""] * (len(CSV_COLUMNS) - len(cells))]
        yield _Row(number, cells[0].strip().lower(), cells[1], cells[2], cells[3])


def _read(path: str | Path) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start})") from None


def import_requests(
    settings: Settings,
    engine: Engine,
    path: str | Path,
    *,
    now: datetime,
    region: str | None = None,
    dry_run: bool = False,
) -> RequestImport:
    """Queue every request of a CSV file (source `file`) in one transaction, or none."""
    region = checked_region(region)
    text = _read(path)
    source = Path(path).name
    refuse_if_restored(settings, engine)
    with transaction(engine, dry_run=dry_run) as conn:
        key = subject_key_for_store(settings, conn)
        parsed: list[tuple[RequestSubject, datetime, str | None]] = []
        errors: list[str] = []
        for row in _rows(text, source):
            try:
                parsed.append(_parse_row(row, key, region, source=source, now=now))
            except InputError as exc:
                errors.append(str(exc))
        if errors:
            more = len(errors) - MAX_ERRORS_LISTED
            listed = "; ".join(errors[:MAX_ERRORS_LISTED]) + (
                f"; and {more} more" if more > 0 else ""
            )
            raise InputError(f"{len(errors)} bad request row(s), nothing queued: {listed}")
        wanted = [
            NewRequest(
                subject.kind,
                subject.hash,
                "file",
                received,
                subject=subject.value,
                reference=reference,
            )
            for subject, received, reference in parsed
        ]
        if dry_run:
            seen = set(open_requests_for(conn, {(r.kind, r.subject_hash) for r in wanted}))
            fresh = {(r.kind, r.subject_hash) for r in wanted} - seen
            return RequestImport(len(fresh), len(wanted) - len(fresh), (), True)
        taken = take_in(conn, wanted, now=now)
        added = [t.request_id for t in taken if t.recorded]
        duplicates = len(taken) - len(added)
        count = len(added)
    if not added:
        return RequestImport(count, duplicates, (), dry_run)
    published = publish_head(
        settings, engine, current_head(engine), source="requests import", run_id=None, when=now
    )
    return RequestImport(count, duplicates, tuple(added), False, published)


def _parse_row(
    row: _Row, key: bytes, region: str | None, *, source: str, now: datetime
) -> tuple[RequestSubject, datetime, str | None]:
    """The row's request; InputError naming every bad column of the row (by name, never by
    value): `FILE: line 3: kind: must be one of ...; received_at: in the future`."""
    problems: list[str] = []
    value = received = None
    if row.kind not in REQUEST_KINDS:
        problems.append(f"kind: must be one of {', '.join(REQUEST_KINDS)}")
    else:
        try:
            value = normalized_identifier(row.kind, row.value, region, option="value")
        except InputError as exc:
            problems.append(str(exc))
    try:
        received = parse_received(row.received_at, now=now, where="received_at")
    except InputError as exc:
        problems.append(str(exc))
    reference = row.reference.strip() or None
    if reference is not None and len(reference) > 200:
        problems.append("reference: at most 200 characters")
    if problems:
        raise InputError(f"{source}: line {row.line}: {'; '.join(problems)}")
    assert value is not None and received is not None
    return RequestSubject(row.kind, value, subject_hash(key, row.kind, value)), received, reference


def requests_of(
    engine: Engine, *, statuses: Sequence[str] = (), overdue_at: datetime | None = None
) -> list[RequestRow]:
    for status in statuses:
        if status not in REQUEST_STATUSES:
            raise InputError(f"--status: must be one of {', '.join(REQUEST_STATUSES)}")
    with engine.connect().execution_options(**READ_ONLY) as conn:
        return list_requests(conn, statuses=list(statuses) or None, overdue_at=overdue_at)

"""The audit journal as a file: appended under an exclusive lock and fsynced, its last event
found from the end and any event found by bisection, without reading the rest, its lines read
one at a time.

A line is complete once its newline is written. A write cut short (a crash, a full disk)
leaves a last line without one: readers ignore it, and the next writer cuts it off before
appending (its events are still in the database, and are written again).
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from retention.domain.journal_entries import JournalEvent, parse_line

__all__ = ["JournalTail", "JournalWriter", "find_event", "line_number", "read_lines", "read_tail"]

_BLOCK = 64 * 1024
_FLUSH_AT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class JournalTail:
    """The journal's last event."""

    event_id: int
    hash: str


def _scan_tail(fd: int, size: int) -> tuple[JournalTail | None, int]:
    """The last event line before `size`, reading blocks backwards from the end, and where
    the complete lines end (the offset after the last newline)."""
    position, carry, complete_end = size, b"", -1
    while position > 0:
        step = min(_BLOCK, position)
        position -= step
        chunk = os.pread(fd, step, position) + carry
        if complete_end < 0:
            cut = chunk.rfind(b"\n")
            if cut < 0:
                carry = chunk  # all of it a line cut short, so far
                continue
            complete_end, chunk = position + cut + 1, chunk[: cut + 1]
        lines = chunk.split(b"\n")[:-1]
        carry = b""
        if position > 0:  # the first piece may begin before this block
            carry, lines = lines[0] + b"\n", lines[1:]
        for raw in reversed(lines):
            if raw.strip():
                item = parse_line(raw)
                if isinstance(item, JournalEvent):
                    return JournalTail(item.id, item.hash), complete_end
    return None, max(complete_end, 0)


def read_tail(path: Path) -> JournalTail | None:
    """The journal's last event; None when the file does not exist or holds no event yet.
    OSError when it cannot be read; JournalLineError when a line near its end is not a
    journal line."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return _scan_tail(fd, os.fstat(fd).st_size)[0]
    finally:
        os.close(fd)


def read_lines(path: Path, start: int = 0) -> Generator[tuple[int, bytes, bool], None, None]:
    """(offset, line, complete) of every line from byte `start` (a line's start) on, in order:
    complete is False only for a last line without its newline (a write cut short). OSError
    when the file cannot be read."""
    with path.open("rb") as handle:
        handle.seek(start)
        offset = start
        for raw in handle:
            if raw.endswith(b"\n"):
                yield offset, raw[:-1], True
            else:
                yield offset, raw, False
            offset += len(raw)


def line_number(path: Path, offset: int) -> int:
    """The number of the line starting at byte `offset` (for a message: counted only then)."""
    newlines = 0
    with path.open("rb") as handle:
        while offset > 0:
            block = handle.read(min(_BLOCK * 16, offset))
            if not block:
                break
            newlines += block.count(b"\n")
            offset -= len(block)
    return newlines + 1


# An event line as JournalWriter writes it begins so (domain/journal_entries.event_line).
_EVENT_START = re.compile(rb'\{"type":"event","id":([0-9]+),')


def _event_from(handle: BinaryIO, offset: int) -> tuple[int, int] | None:
    """(offset, id) of the first event line starting at or after byte `offset`; None when
    there is none (a line cut short ends the search)."""
    if offset > 0:
        handle.seek(offset - 1)
        handle.readline()  # to the start of the next line
    else:
        handle.seek(0)
    while True:
        position = handle.tell()
        raw = handle.readline()
        if not raw.endswith(b"\n"):
            return None
        found = _EVENT_START.match(raw)
        if found is not None:
            return position, int(found.group(1))


def find_event(path: Path, event_id: int) -> int:
    """The offset of the line of the first event with an id of at least `event_id`, found by
    bisecting the file (events are in id order): replay starts there without reading the
    millions of lines before it. The file's size when there is none."""
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        low, high = 0, size
        while low < high:
            middle = (low + high) // 2
            found = _event_from(handle, middle)
            if found is None or found[1] >= event_id:
                high = middle
            else:
                low = middle + 1
        found = _event_from(handle, low)
    return found[0] if found is not None else size


class JournalWriter:
    """The journal opened for appending (created, mode 0600, when missing; its folder then
    fsynced) under an exclusive lock, so that two processes never write it at once: each
    finds the other's events already there. OSError on failure."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        self._pending: list[bytes] = []
        self._size = 0

    def __enter__(self) -> JournalWriter:
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            self._fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, 0o600)
            created = True
        except FileExistsError:
            self._fd = os.open(self.path, flags)
            created = False
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            if created:
                _fsync_folder(self.path.parent)
        except BaseException:
            os.close(self._fd)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        os.close(self._fd)  # releases the lock

    def tail(self) -> JournalTail | None:
        """The last event written; a last line cut short is cut off the file first."""
        size = os.fstat(self._fd).st_size
        tail, complete_end = _scan_tail(self._fd, size)
        if complete_end != size:
            os.ftruncate(self._fd, complete_end)
            os.fsync(self._fd)
        return tail

    def write(self, lines: Iterable[str]) -> None:
        for line in lines:
            data = line.encode("ascii") + b"\n"
            self._pending.append(data)
            self._size += len(data)
        if self._size >= _FLUSH_AT:
            self._flush()

    def finish(self) -> None:
        """Write what is buffered and fsync the file: the lines are on disk."""
        self._flush()
        os.fsync(self._fd)

    def _flush(self) -> None:
        data = b"".join(self._pending)
        self._pending, self._size = [], 0
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

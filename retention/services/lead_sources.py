"""Reading upstream leads from files or stdin, whatever form they come in, in flat memory.

Forms, detected from the content: a paginatedResultSet page (`{"items": [...]}`), a JSON array
of leads, one lead object, or JSON Lines (one lead, or one one-line page, per line).
Records come out one at a time with their position (`line 3`, `item 2`) for error messages.
A line of JSON Lines that is not JSON is a bad record; a broken array or page, text that is not
UTF-8, or a file that is not JSON at all is unreadable input (InputError).
"""

from __future__ import annotations

import codecs
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from retention.errors import InputError

__all__ = ["STDIN", "SourceRecord", "check_readable", "read_records"]

STDIN = "-"
_BOM = codecs.BOM_UTF8
_WHITESPACE = b" \t\r\n"
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record of a source: its parsed JSON `value`, or the `error` that made it unusable."""

    source: str
    position: str
    value: Any = None
    error: str | None = None


class _CheckedUtf8:
    """A byte stream that raises InputError at the first byte that is not UTF-8."""

    def __init__(self, prefix: bytes, rest: BinaryIO, source: str) -> None:
        self._pending = prefix
        self._rest = rest
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""  # ijson probes with read(0) to learn the stream's type
        if self._pending:
            data, self._pending = self._pending, b""
        else:
            data = self._rest.read(size if size > 0 else _CHUNK)
        try:
            self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            at = self._offset + exc.start
            raise InputError(f"{self._source}: byte {at}: not UTF-8 text") from None
        self._offset += len(data)
        return data


def _skip_leading(stream: BinaryIO) -> tuple[bytes, int]:
    """Consume a BOM and leading whitespace; return the first significant byte (b'' at end)
    and the number of line breaks skipped."""
    lines = 0
    first = True
    while True:
        chunk = stream.read(1)
        if first and chunk == _BOM[:1]:
            if stream.read(2) != _BOM[1:]:
                return b"\xef", lines
            first = False
            continue
        first = False
        if not chunk or chunk not in _WHITESPACE:
            return chunk, lines
        if chunk == b"\n":
            lines += 1


def _json_error(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # ijson and json messages may quote the offending text; keep only the parser's reason.
    return text.split(": '", 1)[0][:120]


def _page_items(page: Any) -> list[Any] | None:
    """The items of a one-line page, or None when `page` is not a page."""
    if isinstance(page, dict) and "items" in page and "contactRequest" not in page:
        items = page["items"]
        return items if isinstance(items, list) else None
    return None


def _read_json_lines(
    first_line: bytes, stream: BinaryIO, source: str, line_no: int
) -> Iterator[SourceRecord]:
    for raw in itertools.chain([first_line], stream):
        line_no += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(f"{source}: line {line_no}: not UTF-8 text") from None
        if not text.strip():
            continue
        position = f"line {line_no}"
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            yield SourceRecord(source, position, error=f"not valid JSON ({exc.msg})")
            continue
        items = _page_items(value)
        if items is None:
            yield SourceRecord(source, position, value=value)
        else:
            for index, item in enumerate(items, start=1):
                yield SourceRecord(source, f"{position} item {index}", value=item)


def _read_array(stream: _CheckedUtf8, source: str) -> Iterator[SourceRecord]:
    try:
        for index, value in enumerate(ijson.items(stream, "item", use_float=True), start=1):
            yield SourceRecord(source, f"item {index}", value=value)
    except ijson.JSONError as exc:
        raise InputError(f"{source}: not valid JSON ({_json_error(exc)})") from None


def _read_object(stream: _CheckedUtf8, source: str) -> Iterator[SourceRecord]:
    """A multi-line object: a page (streamed item by item) or one lead."""
    events = ijson.parse(stream, use_float=True)
    seen: list[tuple[str, str, Any]] = []
    try:
        for event in events:
            seen.append(event)
            prefix, kind, value = event
            if prefix == "" and kind == "map_key" and value == "items":
                replay = itertools.chain(seen, events)
                for index, item in enumerate(ijson.items(replay, "items.item"), start=1):
                    yield SourceRecord(source, f"item {index}", value=item)
                return
        lead = next(ijson.items(iter(seen), ""))
    except ijson.JSONError as exc:
        raise InputError(f"{source}: not valid JSON ({_json_error(exc)})") from None
    yield SourceRecord(source, "object", value=lead)


def _records_of_stream(stream: BinaryIO, source: str) -> Iterator[SourceRecord]:
    first, skipped_lines = _skip_leading(stream)
    if not first:
        return
    if first == b"[":
        yield from _read_array(_CheckedUtf8(first, stream, source), source)
    elif first == b"{":
        first_line = first + stream.readline()
        try:
            json.loads(first_line.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            yield from _read_object(_CheckedUtf8(first_line, stream, source), source)
        else:
            yield from _read_json_lines(first_line, stream, source, skipped_lines)
    else:
        raise InputError(
            f"{source}: not JSON: expected a page, an array, a lead object or JSON Lines"
        )


def check_readable(paths: list[str]) -> None:
    """Fail before any work when a named file cannot be opened."""
    for path in paths:
        if path == STDIN:
            continue
        file = Path(path)
        if not file.exists():
            raise InputError(f"{path}: no such file")
        if file.is_dir():
            raise InputError(f"{path}: is a directory")
        try:
            with file.open("rb"):
                pass
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None


def read_records(paths: list[str], stdin: BinaryIO) -> Iterator[SourceRecord]:
    """Every record of every path in order (`-` is `stdin`), streamed."""
    for path in paths:
        if path == STDIN:
            yield from _records_of_stream(stdin, "<stdin>")
            continue
        try:
            handle = open(path, "rb", buffering=_CHUNK)
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
        with handle:
            yield from _records_of_stream(handle, path)

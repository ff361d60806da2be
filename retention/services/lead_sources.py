"""Reading upstream leads from files or stdin, whatever form they come in, in flat memory.

Forms, detected from the content: a paginatedResultSet page (`{"items": [...]}`), a JSON array
of leads, one lead object, or JSON Lines (one lead, or one one-line page, per line).
Records come out one at a time with their position (`line 3`, `item 2`) and their exact source
text. Every form is parsed by the standard library's decoder, so a record reads the same
whichever form carries it. A record that is not valid JSON in JSON Lines is a bad record; a
broken array or page, text that is not UTF-8, or a file that is not JSON at all is unreadable
input (InputError).
"""

from __future__ import annotations

import codecs
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from retention.errors import InputError

__all__ = ["STDIN", "SourceRecord", "check_readable", "read_records"]

STDIN = "-"
_BOM = codecs.BOM_UTF8
_WHITESPACE = b" \t\r\n"
_CHUNK = 1 << 16
# The longest token a read can cut short before the decoder notices (a \uXXXX\uXXXX pair).
_CUT_MARGIN = 16
_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\r\n]*")
# Escapes that can put NUL characters or lone surrogates into parsed strings.
_SUSPICIOUS = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One record of a source: its parsed JSON `value`, or the `error` that made it unusable.

    `text`: the record's JSON exactly as received. `plain_text`: that text holds no `\\u0000`
    and no surrogate escape, so the parsed strings cannot hold NUL characters or lone
    surrogates (raw control characters and bytes that are not UTF-8 are refused by the
    parser); validation may skip looking for them.
    """

    source: str
    position: str
    value: Any = None
    error: str | None = None
    text: str | None = None
    plain_text: bool = False


def _plain(text: str) -> bool:
    return "\\u" not in text or _SUSPICIOUS.search(text) is None


def _loads(text: str) -> Any:
    """json.loads of stripped text, without its wrapper's second whitespace scan."""
    try:
        value, end = _DECODER.raw_decode(text)
    except json.JSONDecodeError:
        end = -1
    if end != len(text):
        return json.loads(text)  # raises json.loads' own error for this text
    return value


def _record(source: str, position: str, value: Any, text: str) -> SourceRecord:
    return SourceRecord(source, position, value=value, text=text, plain_text=_plain(text))


class _TextStream:
    """UTF-8 text read in chunks, decoded strictly, consumed value by value."""

    def __init__(self, first: bytes, rest: BinaryIO, source: str, *, offset: int) -> None:
        """`first`: bytes already read, starting at byte `offset` of the input."""
        self._rest = rest
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._bytes_read = offset
        self._chunk = _CHUNK
        self.eof = False
        self.buffer = ""
        self.pos = 0
        if first:
            self._take(first)

    def _take(self, data: bytes) -> None:
        """Decode `data` (empty: the end of the input) into the buffer."""
        try:
            text = self._decoder.decode(data, final=not data)
        except UnicodeDecodeError as exc:
            at = self._bytes_read + exc.start
            raise InputError(f"{self._source}: byte {at}: not UTF-8 text") from None
        self._bytes_read += len(data)
        self.buffer = self.buffer[self.pos :] + text
        self.pos = 0
        if not data:
            self.eof = True

    def fill(self) -> bool:
        """Read more; False at the end of the input."""
        if self.eof:
            return False
        self._take(self._rest.read(self._chunk))
        return True

    def skip_space(self) -> None:
        while True:
            self.pos = _SPACE.match(self.buffer, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.buffer) or not self.fill():
                return

    def next_char(self) -> str:
        """The next character that is not white space, consumed ('' at the end)."""
        self.skip_space()
        if self.pos >= len(self.buffer):
            return ""
        char = self.buffer[self.pos]
        self.pos += 1
        return char

    def peek(self) -> str:
        self.skip_space()
        return self.buffer[self.pos] if self.pos < len(self.buffer) else ""

    def value(self) -> tuple[Any, str]:
        """The next JSON value and its exact text."""
        self.skip_space()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError as exc:
                if self._incomplete(exc) and self._grow():
                    continue
                raise self.error(f"not valid JSON ({exc.msg})") from None
            if end == len(self.buffer) and not self.eof and self._grow():
                continue  # a number or literal may go on in the next chunk
            text = self.buffer[self.pos : end]
            self.pos = end
            self._chunk = _CHUNK  # back to small reads once the long value is through
            return value, text

    def _incomplete(self, exc: json.JSONDecodeError) -> bool:
        """Whether the decoder failed only because the value goes on past the buffer."""
        # A value cut by the end of the buffer fails at or just before that end (inside a
        # \uXXXX escape, a number, a literal), or as a string without its closing quote.
        return not self.eof and (
            exc.pos >= len(self.buffer) - _CUT_MARGIN or exc.msg.startswith("Unterminated string")
        )

    def _grow(self) -> bool:
        # Read more for a value longer than what is buffered; double the read so that a huge
        # value is re-parsed only a logarithmic number of times.
        self._chunk = min(self._chunk * 2, 1 << 26)
        return self.fill()

    def error(self, problem: str) -> InputError:
        return InputError(f"{self._source}: {problem}")


def _skip_leading(stream: BinaryIO) -> tuple[bytes, int, int]:
    """Consume a BOM and leading whitespace; return the first significant byte (b'' at end),
    the number of line breaks skipped and the number of bytes consumed, that byte included."""
    lines = consumed = 0
    first = True
    while True:
        chunk = stream.read(1)
        consumed += len(chunk)
        if first and chunk == _BOM[:1]:
            rest = stream.read(2)
            consumed += len(rest)
            if rest != _BOM[1:]:
                return b"\xef", lines, consumed
            first = False
            continue
        first = False
        if not chunk or chunk not in _WHITESPACE:
            return chunk, lines, consumed
        if chunk == b"\n":
            lines += 1


def _page_items(page: Any) -> list[Any] | None:
    """The items of a one-line page, or None when `page` is not a page."""
    if isinstance(page, dict) and "items" in page and "contactRequest" not in page:
        items = page["items"]
        return items if isinstance(items, list) else None
    return None


_PAGE_WITHOUT_ITEMS = "a paginatedResultSet page without `items`: it holds no leads"


def _looks_like_page(value: Any) -> bool:
    """A page's envelope (`links`, no `contactRequest`) but no `items` list: not a lead."""
    return (
        isinstance(value, dict)
        and "links" in value
        and "contactRequest" not in value
        and not isinstance(value.get("items"), list)
    )


def _read_json_lines(
    first_line: bytes, stream: BinaryIO, source: str, line_no: int
) -> Iterator[SourceRecord]:
    for raw in itertools.chain([first_line], stream):
        line_no += 1
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InputError(f"{source}: line {line_no}: not UTF-8 text") from None
        if not text:
            continue
        position = f"line {line_no}"
        try:
            value = _loads(text)
        except json.JSONDecodeError as exc:
            yield SourceRecord(source, position, error=f"not valid JSON ({exc.msg})")
            continue
        items = _page_items(value)
        if items is None and _looks_like_page(value):
            yield SourceRecord(source, position, error=_PAGE_WITHOUT_ITEMS)
        elif items is None:
            yield _record(source, position, value, text)
        else:
            plain = _plain(text)
            for index, item in enumerate(items, start=1):
                yield SourceRecord(source, f"{position} item {index}", value=item, plain_text=plain)


def _array_items(stream: _TextStream, source: str) -> Iterator[SourceRecord]:
    """The elements of the array whose `[` was just consumed."""
    if stream.peek() == "]":
        stream.next_char()
        return
    for index in itertools.count(1):
        value, text = stream.value()
        yield _record(source, f"item {index}", value, text)
        separator = stream.next_char()
        if separator == "]":
            return
        if separator != ",":
            raise stream.error(f"not valid JSON (expected ',' or ']' after item {index})")


def _object_members(stream: _TextStream, source: str) -> Iterator[SourceRecord]:
    """A top-level object whose `{` was just consumed: a page, streamed item by item, or one
    lead, whose members are parsed one by one."""
    members: dict[str, Any] = {}
    page = False
    if stream.peek() == "}":
        stream.next_char()
    else:
        while True:
            key, _ = stream.value()
            if not isinstance(key, str):
                raise stream.error("not valid JSON (expected a member name)")
            if stream.next_char() != ":":
                raise stream.error(f"not valid JSON (expected ':' after {key!r})")
            if key == "items" and stream.peek() == "[":
                stream.next_char()
                page = True
                yield from _array_items(stream, source)
            else:
                members[key], _ = stream.value()
            separator = stream.next_char()
            if separator == "}":
                break
            if separator != ",":
                raise stream.error("not valid JSON (expected ',' or '}')")
    if stream.peek():
        raise stream.error("not valid JSON (data after the end of the document)")
    if not page and _looks_like_page(members):
        yield SourceRecord(source, "object", error=_PAGE_WITHOUT_ITEMS)
    elif not page:
        yield SourceRecord(source, "object", value=members, plain_text=False)


def _records_of_stream(stream: BinaryIO, source: str) -> Iterator[SourceRecord]:
    first, skipped_lines, consumed = _skip_leading(stream)
    if not first:
        # Nothing at all: a download that failed (`curl ... | retention import -`) must not
        # look like an import of zero leads.
        raise InputError(f"{source}: empty input: no page, array, lead or JSON Lines in it")
    if first == b"[":
        text = _TextStream(b"", stream, source, offset=consumed)
        yield from _array_items(text, source)
        if text.peek():
            raise text.error("not valid JSON (data after the end of the array)")
    elif first == b"{":
        first_line = first + stream.readline()
        try:
            json.loads(first_line.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            rest = _TextStream(first_line[1:], stream, source, offset=consumed)
            yield from _object_members(rest, source)
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

"""A small PNG decoder (standard library only) for the tests that look at a screenshot: 8-bit
RGB or RGBA, not interlaced, the five filter types of the PNG specification."""

from __future__ import annotations

import struct
import zlib
from collections import Counter
from dataclasses import dataclass

__all__ = ["Image", "read_png"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {2: 3, 6: 4}  # colour type -> bytes per pixel (RGB, RGBA)


@dataclass(frozen=True, slots=True)
class Image:
    """A decoded image: its size, and its rows of RGB bytes (alpha dropped), top down."""

    width: int
    height: int
    rows: tuple[bytes, ...]

    def colours(self) -> Counter[bytes]:
        """How many pixels have each RGB colour (3 bytes)."""
        counts: Counter[bytes] = Counter()
        for row in self.rows:
            counts.update(row[index : index + 3] for index in range(0, len(row), 3))
        return counts


def _paeth(left: int, up: int, up_left: int) -> int:
    guess = left + up - up_left
    to_left, to_up, to_up_left = abs(guess - left), abs(guess - up), abs(guess - up_left)
    if to_left <= to_up and to_left <= to_up_left:
        return left
    return up if to_up <= to_up_left else up_left


def _unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    """One scanline without its filter (PNG specification, section 9)."""
    if kind == 0:
        return line
    if kind == 2:
        return bytes((a + b) & 0xFF for a, b in zip(line, prior, strict=True))
    out = bytearray(line)
    for index in range(len(out)):
        left = out[index - bpp] if index >= bpp else 0
        if kind == 1:
            out[index] = (out[index] + left) & 0xFF
        elif kind == 3:
            out[index] = (out[index] + (left + prior[index]) // 2) & 0xFF
        elif kind == 4:
            up_left = prior[index - bpp] if index >= bpp else 0
            out[index] = (out[index] + _paeth(left, prior[index], up_left)) & 0xFF
        else:
            raise ValueError(f"PNG filter type {kind} does not exist")
    return bytes(out)


def _without_alpha(rgba: bytes) -> bytes:
    rgb = bytearray(len(rgba) // 4 * 3)
    for channel in range(3):
        rgb[channel::3] = rgba[channel::4]
    return bytes(rgb)


def read_png(data: bytes) -> Image:
    """The image in `data`; ValueError for what this decoder does not read."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file")
    position, header, compressed = len(_SIGNATURE), b"", bytearray()
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length  # length, type, data, CRC
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            compressed += body
        elif kind == b"IEND":
            break
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in _CHANNELS or interlace:
        raise ValueError(
            f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}"
        )
    bpp = _CHANNELS[colour]
    raw, stride = zlib.decompress(bytes(compressed)), width * bpp
    rows, prior = [], bytes(stride)
    for top in range(0, height * (stride + 1), stride + 1):
        prior = _unfilter(raw[top], raw[top + 1 : top + 1 + stride], prior, bpp)
        rows.append(prior if bpp == 3 else _without_alpha(prior))
    return Image(width, height, tuple(rows))

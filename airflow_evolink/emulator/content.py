"""Result video bytes: deterministic per task id, generated on the fly so 1 GB costs no memory."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from functools import lru_cache

from airflow_evolink.emulator.clip import ftyp, playable_mp4

BLOCK = 64 * 1024
CHUNK = 4 * BLOCK


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes outside the file (416)."""


def mp4_header(size: int) -> bytes:
    """The start of every result file: a real, playable clip, then a ``free`` box that pads to ``size``.

    Browsers play the clip (``clip.playable_mp4``: H.264 in MP4) and ignore the padding, so a gallery can
    show the emulator's videos. A file too small for the clip gets only an ``ftyp`` box and an ``mdat``
    box header, which still looks like an MP4 to sniffers.
    """
    clip = playable_mp4()
    padding = size - len(clip)
    if padding >= 8:
        if padding < 2**32:
            return clip + struct.pack(">I4s", padding, b"free")
        if padding >= 16:
            return clip + struct.pack(">I4sQ", 1, b"free", padding)
    return ftyp() + struct.pack(">I4s", max(size - 32, 8), b"mdat")


@lru_cache(maxsize=256)
def _tile(task_id: str) -> bytes:
    """A pseudo-random block, repeated so any CHUNK-long window starting inside the first block fits."""
    block = hashlib.shake_256(task_id.encode()).digest(BLOCK)
    return block * (CHUNK // BLOCK + 1)


def video_chunks(task_id: str, size: int, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Bytes [start, end) of the task's video, at most CHUNK bytes per item."""
    stop = size if end is None else min(end, size)
    tile = _tile(task_id)
    header = mp4_header(size)[:size]
    position = start
    while position < stop:
        length = min(CHUNK, stop - position)
        offset = position % BLOCK
        chunk = tile[offset : offset + length]
        if position < len(header):
            cut = min(len(header), position + length) - position
            chunk = header[position : position + cut] + chunk[cut:]
        yield chunk
        position += length


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end-exclusive) for a single `bytes=` range; None means send the whole file.

    Multiple ranges are answered with the whole file (allowed by RFC 9110); malformed headers are
    ignored the same way.
    """
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].strip().partition("-")
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise RangeNotSatisfiable
            return max(0, size - suffix), size
        start = int(first)
        end = max(size, start + 1) if last == "" else int(last) + 1
    except ValueError:
        return None
    if start < 0 or end <= start:
        return None  # includes "bytes=10-5": invalid, so ignored
    if start >= size:
        raise RangeNotSatisfiable
    return start, min(end, size)

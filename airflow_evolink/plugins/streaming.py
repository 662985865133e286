"""Serve a stored video with HTTP Range support, so a ``<video>`` element can seek.

Files are read in fixed-size chunks through the path's own filesystem (``file://``, or any fsspec
store), so memory stays flat whatever the size of the video. An object store's file is opened without
read-ahead (``cache_type="none"``): each chunk is one ranged GET of exactly its bytes. With s3fs's
default read-ahead, a player's ``bytes=0-99`` fetched a whole 6 MiB video from S3.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.responses import Response, StreamingResponse

CHUNK_BYTES = 256 * 1024
VIDEO_TYPE = "video/mp4"

#: A Range header longer than this is ignored unread (the whole file is sent). Parsing is linear anyway;
#: the cap bounds the work per request whatever the server in front lets through.
MAX_RANGE_HEADER = 8192
#: A position with more digits than this is past the end of any file (10**18 bytes is an exabyte), and is
#: judged by its length, never converted (Python's int() refuses strings over 4,300 digits).
MAX_POSITION_DIGITS = 18
#: RFC 9110's optional whitespace around the range's parts.
_WHITESPACE = " \t"


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes the file does not have (answer 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte range asked for, or ``None`` to send the whole file.

    Only a single range is honoured; a header with several ranges, or one that does not parse, is
    ignored (RFC 9110 lets a server answer such requests with the full content). Parsed by hand in one
    pass, so no header can make it slow (a backtracking pattern took seconds on runs of whitespace).
    """
    if not header or len(header) > MAX_RANGE_HEADER:
        return None
    unit, equals, spec = header.partition("=")
    if not equals or unit.strip(_WHITESPACE).lower() != "bytes":
        return None
    first_text, dash, last_text = spec.partition("-")
    first_text, last_text = first_text.strip(_WHITESPACE), last_text.strip(_WHITESPACE)
    if not dash or not _digits(first_text) or not _digits(last_text):
        return None
    if not first_text and not last_text:
        return None
    if not first_text:  # "bytes=-N": the last N bytes
        suffix = _position(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - suffix, 0), size - 1
    first = _position(first_text)
    last = _position(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # an invalid range is ignored, not refused
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(last, size - 1)


def _digits(text: str) -> bool:
    """Empty, or ASCII digits only (``str.isdigit`` also takes other scripts' digits)."""
    return all("0" <= c <= "9" for c in text)


def _position(digits: str) -> int:
    """The number, or one past any real file's size when it has too many digits to be a position."""
    digits = digits.lstrip("0") or "0"
    if len(digits) > MAX_POSITION_DIGITS:
        return 10**MAX_POSITION_DIGITS
    return int(digits)


def _read(path: Any, first: int, length: int) -> Iterator[bytes]:
    with path.open("rb", block_size=CHUNK_BYTES, cache_type="none") as handle:
        if first:
            handle.seek(first)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def file_response(path: Any, range_header: str | None) -> Response:
    """200 with the whole file, 206 with the asked range, or 416 when the range is past the end."""
    size = int(path.stat()["size"])
    headers = {
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, max-age=300",
        # Whatever the file holds, a browser must not render it as anything but a video.
        "X-Content-Type-Options": "nosniff",
    }
    try:
        wanted = parse_range(range_header, size)
    except RangeNotSatisfiable:
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    if wanted is None:
        headers["Content-Length"] = str(size)
        return StreamingResponse(_read(path, 0, size), media_type=VIDEO_TYPE, headers=headers)
    first, last = wanted
    length = last - first + 1
    headers["Content-Length"] = str(length)
    headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return StreamingResponse(
        _read(path, first, length), status_code=206, media_type=VIDEO_TYPE, headers=headers
    )

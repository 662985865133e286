"""Serve a stored video with HTTP Range support, so a ``<video>`` element can seek.

Files are read in fixed-size chunks through the path's own filesystem (``file://``, or any fsspec
store), so memory stays flat whatever the size of the video.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from starlette.responses import Response, StreamingResponse

CHUNK_BYTES = 256 * 1024
VIDEO_TYPE = "video/mp4"

_SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


#: Only files with a video's extension are served: a ``downloads`` XCom can be written by anyone who may
#: edit XComs, and must not turn the api-server into a reader of its own files (configs, keys).
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv"})


def is_video_name(name: str) -> bool:
    """Whether a recorded file's name ends with a video extension (case-insensitive)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in VIDEO_SUFFIXES


class RangeNotSatisfiable(Exception):
    """The Range header asks for bytes the file does not have (answer 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive ``(first, last)`` byte range asked for, or ``None`` to send the whole file.

    Only a single range is honoured; a header with several ranges, or one that does not parse, is
    ignored (RFC 9110 lets a server answer such requests with the full content).
    """
    if not header:
        return None
    match = _SINGLE_RANGE.match(header)
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:  # "bytes=-N": the last N bytes
        suffix = int(last_text)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(size - suffix, 0), size - 1
    first = int(first_text)
    last = int(last_text) if last_text else size - 1
    if last_text and last < first:
        return None  # an invalid range is ignored, not refused
    if first >= size:
        raise RangeNotSatisfiable
    return first, min(last, size - 1)


def _read(path: Any, first: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
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

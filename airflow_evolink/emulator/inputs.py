"""A generation's input URLs, fetched when it starts, as Evolink's workers fetch them.

Evolink reads every input (``image_start``, ``image_end``, ``*_url`` / ``*_urls`` except ``callback_url``)
by URL after it accepted and charged the task; an input it cannot read fails the generation, which is then
refunded. The docs give no code of their own for an unreadable URL: the emulator reports
``image_processing_error`` ("Image could not be processed", not retryable with the same input) for an image
field and ``invalid_parameters`` for a video or audio field, both from Evolink's task error codes
(https://docs.evolink.ai/en/api-manual/task-management/error-codes), with a message naming the field and
what went wrong.

Offline rule: only URLs whose host is loopback (``127.0.0.1`` and the rest of 127/8, ``localhost``,
``::1``) are fetched, over HTTP with the body streamed and discarded (at most :data:`MAX_FETCH_BYTES`,
within :data:`FETCH_TIMEOUT`); every other host cannot be reached from here and is taken as readable. The
emulator's own file URLs (``/uploads/{file_id}/{name}``, ``/files/{task}.mp4`` on the host and port the
client reached) are looked up in its own state instead, so the fetch does not show in the request log
or use up a fault rule.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
from yarl import URL

from airflow_evolink.emulator.filestore import SERVE_PREFIX
from airflow_evolink.emulator.state import EmulatorState

#: Fields that are inputs without the ``_url`` suffix (Kling's first and last frame).
FRAME_FIELDS = ("image_start", "image_end")
NOT_INPUTS = frozenset({"callback_url"})
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
#: How much of a body is read before the input counts as readable (the rest is not fetched).
MAX_FETCH_BYTES = 16 * 1024 * 1024
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5, sock_read=10)
IMAGE_CODE = "image_processing_error"
OTHER_CODE = "invalid_parameters"
_XML_FIELD = re.compile(r"<(Code|Message)>([^<]{1,300})</\1>")
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class InputFailure:
    """One input the generation could not read: the field as a user names it and why."""

    field: str
    url: str
    reason: str

    def error(self) -> dict[str, str]:
        """The task's ``error`` object."""
        code = IMAGE_CODE if "image" in self.field else OTHER_CODE
        return {
            "code": code,
            "message": f"Failed to fetch input {self.field} ({_without_query(self.url)}): {self.reason}",
        }


def input_urls(body: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, url) for every input URL of a create request, in field order."""
    for key, value in body.items():
        if key not in FRAME_FIELDS and not (key.endswith(("_url", "_urls")) and key not in NOT_INPUTS):
            continue
        if isinstance(value, str):
            yield key, value
        elif isinstance(value, list):
            yield from ((f"{key}[{i}]", item) for i, item in enumerate(value) if isinstance(item, str))


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def own_netlocs(host_header: str, port: int | None) -> frozenset[str]:
    """The ``host:port`` forms under which the client reached this emulator."""
    names = {host_header.lower()}
    if port is not None:
        names |= {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
    return frozenset(names)


def own_url_problem(state: EmulatorState, path: str) -> str | None:
    """Why one of the emulator's own URLs cannot be read (as its route would answer), or ``None``."""
    parts = unquote(path).strip("/").split("/")
    with state.lock:
        now = state.clock.now()
        if len(parts) == 3 and "/" + parts[0] == SERVE_PREFIX:
            state.uploads.expire(now, state.config.file_ttl_seconds)
            stored = state.uploads.files.get(parts[1])
            served = stored is not None and stored.name == parts[2]
            return None if served else "HTTP 404 Not Found (the file service holds no such file)"
        if len(parts) == 2 and parts[0] == "files" and parts[1].endswith(".mp4"):
            job = state.jobs.get(parts[1].removesuffix(".mp4"))
            result = "missing" if job is None else job.result_state(now, state.config.result_ttl_seconds)
            if result == "expired":
                return "HTTP 403 Forbidden (AccessDenied: Request has expired)"
            return (
                None
                if result == "ready"
                else "HTTP 404 Not Found (NoSuchKey: The specified key does not exist.)"
            )
    return "HTTP 404 Not Found"


async def fetch_inputs(
    body: Mapping[str, Any], *, state: EmulatorState, own: frozenset[str]
) -> InputFailure | None:
    """The first input the generation cannot read, or ``None`` when it can read them all.

    ``own`` holds the ``host:port`` forms of this emulator (:func:`own_netlocs`)."""
    session: aiohttp.ClientSession | None = None
    try:
        for field, url in input_urls(body):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https"):
                continue
            if parts.netloc.lower() in own:
                reason = own_url_problem(state, parts.path)
            elif is_loopback(parts.hostname):
                session = session or aiohttp.ClientSession(timeout=FETCH_TIMEOUT, auto_decompress=False)
                reason = await _fetch(session, url)
            else:
                continue  # another host: not reachable offline, taken as readable
            if reason is not None:
                return InputFailure(field, url, reason)
        return None
    finally:
        if session is not None:
            await session.close()


async def _fetch(session: aiohttp.ClientSession, url: str) -> str | None:
    """GET ``url`` (its query sent byte for byte: a signature must not be re-encoded) and read the body,
    discarding it; ``None`` when it came whole, else why not."""
    try:
        async with session.get(URL(url, encoded=True), allow_redirects=True) as response:
            if response.status >= 400:
                detail = await response.content.read(4096)
                return f"HTTP {response.status} {response.reason or ''}".rstrip() + _store_error(detail)
            read = 0
            async for chunk in response.content.iter_chunked(_CHUNK):
                read += len(chunk)
                if read >= MAX_FETCH_BYTES:
                    break
            return None
    except asyncio.TimeoutError:
        return f"no answer within {FETCH_TIMEOUT.total:g} s"
    except aiohttp.ClientPayloadError as exc:
        return f"the body was cut off ({exc.__class__.__name__})"
    except aiohttp.ClientError as exc:
        return f"cannot connect ({exc.__class__.__name__}: {exc})"


def _store_error(body: bytes) -> str:
    """An object store's ``<Code>`` and ``<Message>`` (S3, GCS XML errors), when the body has them."""
    found = dict(_XML_FIELD.findall(body.decode("utf-8", "replace")))
    if not found:
        return ""
    return " (" + ": ".join(found[k] for k in ("Code", "Message") if k in found) + ")"


def _without_query(url: str) -> str:
    """The URL without its query (where a presigned URL keeps its signature) and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))

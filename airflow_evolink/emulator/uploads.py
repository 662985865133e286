"""The file service (``https://files-api.evolink.ai``), served by the emulator on the same port.

Routes, as Evolink's own clients document them (EvoLinkAI/evolink-media-mcp ``services/file-client.ts``,
evolink-cli ``services/file-client.js``), all behind the same Bearer key as /v1:
  POST   /api/v1/files/upload/stream   multipart field ``file``
  POST   /api/v1/files/upload/base64   ``{base64_data, file_name?}`` (a ``data:...;base64,`` prefix is allowed)
  POST   /api/v1/files/upload/url      ``{file_url}``: the emulator fetches it
  GET    /api/v1/files/quota
  GET    /api/v1/files/list?page=&pageSize=
  DELETE /api/v1/files/{file_id}
Answers are ``{success, code, msg, data}``; an upload's ``data`` is ``{file_id, file_name, file_size,
mime_type, file_url, download_url, expires_at}``. Files live 72 h (``file_ttl_seconds``), at most 100 MB
each (``upload_max_bytes``), at most 100 per account (``file_quota``).

Our guesses, where the docs are silent: a full quota answers HTTP 403 with code ``file_quota_exceeded``;
a file too large answers 413 ``file_too_large``; ``expires_at`` is ISO 8601 UTC; ``file_url`` is
``/uploads/{file_id}/{name}`` on this server, which serves the bytes without auth (as a CDN link would)
until the file expires or is deleted; quota's ``data`` is ``{used, limit, remaining}``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from airflow_evolink.emulator.context import base_url, context_of, state_of
from airflow_evolink.emulator.filestore import SERVE_PREFIX, StoredFile
from airflow_evolink.emulator.misbehave import reset_connection

PREFIX = "/api/v1/files"
FILE_QUOTA_EXCEEDED = "file_quota_exceeded"  # our guess at the service's code
FILE_TOO_LARGE = "file_too_large"  # our guess
CHUNK_BYTES = 256 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def add_upload_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(f"{PREFIX}/upload/stream", upload_stream)
    router.add_post(f"{PREFIX}/upload/base64", upload_base64)
    router.add_post(f"{PREFIX}/upload/url", upload_url)
    router.add_get(f"{PREFIX}/quota", quota)
    router.add_get(f"{PREFIX}/list", list_files)
    router.add_delete(f"{PREFIX}/{{file_id}}", delete_file)
    router.add_get(f"{SERVE_PREFIX}/{{file_id}}/{{name}}", serve)


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "code": status, "msg": "success", "data": data}, status=status)


def fail(status: int, code: str | int, message: str) -> web.Response:
    return web.json_response({"success": False, "code": code, "msg": message, "data": None}, status=status)


def _refusal_before_upload(request: web.Request) -> web.Response | None:
    """The quota, and a declared size over the limit, refused before any byte is read."""
    state = state_of(request)
    config = state.config
    with state.lock:
        state.uploads.expire(state.clock.now(), config.file_ttl_seconds)
        held = len(state.uploads.files)
    if held >= config.file_quota:
        return fail(
            403,
            FILE_QUOTA_EXCEEDED,
            f"File quota exceeded: this account holds {held} of {config.file_quota} files. Delete files "
            "or wait for them to expire (72 hours).",
        )
    return None


def _too_large(limit: int) -> web.Response:
    return fail(413, FILE_TOO_LARGE, f"File is larger than the {limit // (1024 * 1024)} MB limit")


async def upload_stream(request: web.Request) -> web.StreamResponse:
    refusal = _refusal_before_upload(request)
    if refusal is not None:
        return refusal
    state = state_of(request)
    limit = state.config.upload_max_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        return _too_large(limit)
    cut_at = (request.content_length or 0) // 2 if context_of(request).cut_upload else None
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError):
        return fail(400, "invalid_request", "Expected a multipart/form-data body with a 'file' field")
    part = await reader.next()
    while part is not None and getattr(part, "name", None) != "file":
        part = await reader.next()
    if part is None or not isinstance(part, aiohttp.BodyPartReader):
        return fail(400, "invalid_request", "The multipart body has no 'file' field")
    file_id, path = state.uploads.new_part()
    size = 0
    try:
        with _open_part(path) as out:
            while chunk := await part.read_chunk(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise _TooLarge
                out.write(chunk)
                if cut_at is not None and size >= cut_at:
                    # The `reset` fault on an upload: drop the connection halfway through the body.
                    reset_connection(request)
                    raise _Aborted
    except _TooLarge:
        _unlink(path)
        return _too_large(limit)
    except (_Aborted, ConnectionError, aiohttp.ClientPayloadError):
        _unlink(path)
        return web.Response(status=400)
    name = part.filename or "upload"
    mime = part.headers.get("Content-Type", "application/octet-stream")
    return _stored(request, file_id, path, name, size, mime)


async def _json_upload(request: web.Request, field: str) -> web.Response | tuple[Any, str]:
    """What the JSON upload routes share: the quota refusal, then the JSON body and its required ``field``."""
    refusal = _refusal_before_upload(request)
    if refusal is not None:
        return refusal
    try:
        body = json.loads(await request.read())
        return body, str(body[field])
    except (ValueError, KeyError, TypeError):
        return fail(400, "invalid_request", f"Expected JSON {{{field}}}")
    except web.HTTPRequestEntityTooLarge:
        return _too_large(state_of(request).config.upload_max_bytes)


async def upload_base64(request: web.Request) -> web.StreamResponse:
    parsed = await _json_upload(request, "base64_data")
    if isinstance(parsed, web.Response):
        return parsed
    body, text = parsed
    state = state_of(request)
    limit = state.config.upload_max_bytes
    mime = "application/octet-stream"
    if text.startswith("data:") and "," in text:
        header, text = text.split(",", 1)
        mime = header[5:].split(";", 1)[0] or mime
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return fail(400, "invalid_request", "base64_data is not valid base64")
    if len(data) > limit:
        return _too_large(limit)
    file_id, path = state.uploads.new_part()
    path.write_bytes(data)
    name = str(body.get("file_name") or "upload") if isinstance(body, dict) else "upload"
    return _stored(request, file_id, path, name, len(data), mime)


async def upload_url(request: web.Request) -> web.StreamResponse:
    parsed = await _json_upload(request, "file_url")
    if isinstance(parsed, web.Response):
        return parsed
    url = parsed[1]
    state = state_of(request)
    limit = state.config.upload_max_bytes
    file_id, path = state.uploads.new_part()
    size = 0
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
            session.get(url) as response,
        ):
            if response.status != 200:
                return fail(400, "invalid_request", f"Could not fetch file_url: HTTP {response.status}")
            mime = response.headers.get("Content-Type", "application/octet-stream")
            with _open_part(path) as out:
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    size += len(chunk)
                    if size > limit:
                        raise _TooLarge
                    out.write(chunk)
    except _TooLarge:
        _unlink(path)
        return _too_large(limit)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        _unlink(path)
        return fail(400, "invalid_request", f"Could not fetch file_url: {exc}")
    name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or "upload"
    return _stored(request, file_id, path, name, size, mime)


def _stored(request: web.Request, file_id: str, path: Path, name: str, size: int, mime: str) -> web.Response:
    state = state_of(request)
    config = state.config
    safe = _SAFE_NAME.sub("_", os.path.basename(name)).strip("._") or "upload"
    with state.lock:
        if len(state.uploads.files) >= config.file_quota:  # filled up while this one streamed
            _unlink(path)
            return fail(403, FILE_QUOTA_EXCEEDED, f"File quota exceeded ({config.file_quota} files)")
        wall = state.clock.wall()
        stored = StoredFile(
            file_id, safe, size, mime, path, state.clock.now(), wall, wall + config.file_ttl_seconds
        )
        state.uploads.files[file_id] = stored
        state.uploads.uploads += 1
    return ok(stored.view(base_url(request), config.file_ttl_seconds))


async def quota(request: web.Request) -> web.Response:
    state = state_of(request)
    with state.lock:
        state.uploads.expire(state.clock.now(), state.config.file_ttl_seconds)
        used = len(state.uploads.files)
    limit = state.config.file_quota
    return ok({"used": used, "limit": limit, "remaining": max(0, limit - used)})


async def list_files(request: web.Request) -> web.Response:
    state = state_of(request)
    try:
        page = max(1, int(request.query.get("page", "1")))
        size = min(100, max(1, int(request.query.get("pageSize", "20"))))
    except ValueError:
        return fail(400, "invalid_request", "page and pageSize must be integers")
    base = base_url(request)
    with state.lock:
        state.uploads.expire(state.clock.now(), state.config.file_ttl_seconds)
        held = sorted(state.uploads.files.values(), key=lambda f: f.created, reverse=True)
        views = [f.view(base, state.config.file_ttl_seconds) for f in held]
    start = (page - 1) * size
    return ok({"files": views[start : start + size], "total": len(views), "page": page, "pageSize": size})


async def delete_file(request: web.Request) -> web.Response:
    state = state_of(request)
    file_id = request.match_info["file_id"]
    with state.lock:
        removed = state.uploads.remove(file_id)
    if not removed:
        return fail(404, 404, f"File {file_id} not found")
    return ok({"file_id": file_id, "deleted": True})


async def serve(request: web.Request) -> web.StreamResponse:
    """The ``file_url``: what Evolink's workers fetch. No auth; 404 once expired or deleted."""
    state = state_of(request)
    with state.lock:
        state.uploads.expire(state.clock.now(), state.config.file_ttl_seconds)
        stored = state.uploads.files.get(request.match_info["file_id"])
    if stored is None or stored.name != request.match_info["name"]:
        return web.Response(status=404, text="Not Found")
    return web.FileResponse(stored.path, headers={"Content-Type": stored.mime_type})


class _TooLarge(Exception):
    pass


class _Aborted(Exception):
    pass


def _open_part(path: Path) -> Any:
    """Local temp files, written in 256 KiB pieces: blocking, and brief enough for the emulator."""
    return open(path, "wb")


def _unlink(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()

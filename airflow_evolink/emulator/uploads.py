"""The file service (``https://files-api.evolink.ai``), served by the emulator on the same port.

Routes, as Evolink's own clients document them (EvoLinkAI/evolink-media-mcp ``services/file-client.ts``,
evolink-cli ``services/file-client.js``), all behind the same Bearer key as /v1:
  POST   /api/v1/files/upload/stream   multipart field ``file``
  POST   /api/v1/files/upload/base64   ``{base64_data, file_name?}`` (a ``data:...;base64,`` prefix is allowed)
  POST   /api/v1/files/upload/url      ``{file_url}``: the emulator fetches it
  GET    /api/v1/files/quota
  GET    /api/v1/files/list?page=&pageSize=
  DELETE /api/v1/files/{file_id}
  GET    /api/v1/files/upload-receipts/{upload_id}
Answers are ``{success, code, msg, data}``; an upload's ``data`` is ``{file_id, file_name, file_size,
mime_type, file_url, download_url, expires_at}``. Files live 72 h (``file_ttl_seconds``), at most 100 MB
each (``upload_max_bytes``), at most 100 per account (``file_quota``).

Our guesses, where the docs are silent: a full quota answers HTTP 403 with code ``file_quota_exceeded``;
a file too large answers 413 ``file_too_large``; ``expires_at`` is ISO 8601 UTC; ``file_url`` is
``/uploads/{file_id}/{name}`` on this server, which serves the bytes without auth (as a CDN link would)
until the file expires or is deleted; quota's ``data`` is ``{used, limit, remaining}``.

Upload receipts (evolink-cli ``services/file-client.js``): every upload route takes an ``X-Evo-Upload-Id``
header (16-128 characters, ``[A-Za-z0-9][A-Za-z0-9_-]{15,127}``) that names the upload; a bad one is refused
with 400 before the body is read. The service keeps one receipt per (API key, upload id): ``done`` with the
file once it is stored, ``outcome_unknown`` when the body stopped arriving (nothing stored). A client whose
answer was lost reads ``GET /api/v1/files/upload-receipts/{id}``: ``{upload_id, state, result_verified,
file{file_id, file_url, file_size}}`` (``file`` is null unless ``done``), as the facts list it, without the
``{success, data}`` envelope. Our guesses: an id not seen, another key's, or one whose file has expired or
been deleted answers 404; an upload sent again under the same id replaces the receipt;
``result_verified`` is true when the stored size is the size the body declared. Older file services have no
receipts route: ``upload_receipts_status`` (config or control API) makes it answer 404 or 405.
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
from airflow_evolink.emulator.filestore import SERVE_PREFIX, Receipt, StoredFile
from airflow_evolink.emulator.misbehave import reset_connection

PREFIX = "/api/v1/files"
FILE_QUOTA_EXCEEDED = "file_quota_exceeded"  # our guess at the service's code
FILE_TOO_LARGE = "file_too_large"  # our guess
CHUNK_BYTES = 256 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
UPLOAD_ID_HEADER = "X-Evo-Upload-Id"
UPLOAD_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{15,127}")
RECEIPTS = f"{PREFIX}/upload-receipts"
DONE = "done"
OUTCOME_UNKNOWN = "outcome_unknown"


def add_upload_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(f"{PREFIX}/upload/stream", upload_stream)
    router.add_post(f"{PREFIX}/upload/base64", upload_base64)
    router.add_post(f"{PREFIX}/upload/url", upload_url)
    router.add_get(f"{PREFIX}/quota", quota)
    router.add_get(f"{PREFIX}/list", list_files)
    router.add_delete(f"{PREFIX}/{{file_id}}", delete_file)
    router.add_get(f"{RECEIPTS}/{{upload_id}}", read_receipt)
    router.add_get(f"{SERVE_PREFIX}/{{file_id}}/{{name}}", serve)


def ok(data: Any, status: int = 200) -> web.Response:
    return web.json_response({"success": True, "code": status, "msg": "success", "data": data}, status=status)


def fail(status: int, code: str | int, message: str) -> web.Response:
    return web.json_response({"success": False, "code": code, "msg": message, "data": None}, status=status)


def _refusal_before_upload(request: web.Request) -> web.Response | None:
    """A bad upload id, and the quota, refused before any byte is read; a good upload id is recorded."""
    state = state_of(request)
    config = state.config
    upload_id = request.headers.get(UPLOAD_ID_HEADER)
    if upload_id is not None and not UPLOAD_ID_PATTERN.fullmatch(upload_id):
        return fail(
            400,
            "invalid_request",
            f"{UPLOAD_ID_HEADER} must be 16-128 characters: a letter or digit, then letters, digits, _ or -",
        )
    with state.lock:
        state.uploads.upload_ids.append(upload_id)
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
        _note_receipt(request, None)  # the body stopped arriving: whether it was meant whole is unknown
        return web.Response(status=400)
    name = part.filename or "upload"
    mime = part.headers.get("Content-Type", "application/octet-stream")
    return _stored(request, file_id, path, name, size, mime, verified=_declared_size(part) in (None, size))


def _declared_size(part: aiohttp.BodyPartReader) -> int | None:
    """The size a multipart part declares for itself, when it does (few clients do)."""
    try:
        return int(part.headers.get("Content-Length", ""))
    except ValueError:
        return None


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


def _stored(
    request: web.Request,
    file_id: str,
    path: Path,
    name: str,
    size: int,
    mime: str,
    *,
    verified: bool = True,
) -> web.Response:
    state = state_of(request)
    config = state.config
    safe = _SAFE_NAME.sub("_", os.path.basename(name)).strip("._") or "upload"
    upload_id = request.headers.get(UPLOAD_ID_HEADER)
    with state.lock:
        if len(state.uploads.files) >= config.file_quota:  # filled up while this one streamed
            _unlink(path)
            return fail(403, FILE_QUOTA_EXCEEDED, f"File quota exceeded ({config.file_quota} files)")
        wall = state.clock.wall()
        stored = StoredFile(
            file_id,
            safe,
            size,
            mime,
            path,
            state.clock.now(),
            wall,
            wall + config.file_ttl_seconds,
            upload_id,
        )
        state.uploads.files[file_id] = stored
        state.uploads.uploads += 1
        _note_receipt(request, stored, verified=verified)
    return ok(stored.view(base_url(request), config.file_ttl_seconds))


def _note_receipt(request: web.Request, stored: StoredFile | None, *, verified: bool = False) -> None:
    """Keep the receipt of a named upload: ``done`` with its file, or ``outcome_unknown`` without one."""
    upload_id = request.headers.get(UPLOAD_ID_HEADER)
    api_key = context_of(request).api_key
    if upload_id is None or not api_key:
        return
    state = state_of(request)
    receipt = (
        Receipt(upload_id, DONE, stored.file_id, verified)
        if stored is not None
        else Receipt(upload_id, OUTCOME_UNKNOWN)
    )
    with state.lock:
        state.uploads.receipts[(api_key, upload_id)] = receipt


async def read_receipt(request: web.Request) -> web.Response:
    """``GET /api/v1/files/upload-receipts/{upload_id}``: this key's receipt of that upload."""
    state = state_of(request)
    upload_id = request.match_info["upload_id"]
    with state.lock:
        switched = state.uploads.receipts_status
        state.uploads.expire(state.clock.now(), state.config.file_ttl_seconds)
        receipt = state.uploads.receipts.get((context_of(request).api_key, upload_id))
        stored = state.uploads.files.get(receipt.file_id) if receipt and receipt.file_id else None
    if switched == 404:
        return fail(404, 404, f"Not Found: GET {request.path}")
    if switched == 405:
        return web.json_response(
            {"success": False, "code": 405, "msg": "Method Not Allowed", "data": None},
            status=405,
            headers={"Allow": "DELETE"},
        )
    if receipt is None or (receipt.state == DONE and stored is None):
        return fail(404, "upload_receipt_not_found", f"No receipt for upload {upload_id}")
    file = None
    if stored is not None:
        url = stored.view(base_url(request), state.config.file_ttl_seconds)["file_url"]
        file = {"file_id": stored.file_id, "file_url": url, "file_size": stored.size}
    return web.json_response(
        {
            "upload_id": receipt.upload_id,
            "state": receipt.state,
            "result_verified": receipt.result_verified,
            "file": file,
        }
    )


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

"""How each injected fault looks on the wire (see FaultRule for the kinds)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable

from aiohttp import web

from airflow_evolink.emulator.context import context_of
from airflow_evolink.emulator.errors import html_error, json_error, reason
from airflow_evolink.emulator.faults import FaultRule

#: Upload routes of the file service (uploads.py), where `reset` cuts the body halfway.
UPLOAD_PREFIX = "/api/v1/files/upload/"

Handle = Callable[[], Awaitable[web.StreamResponse]]

_MESSAGES = {
    429: "Rate limit exceeded, please retry later",
    500: "Internal server error",
    502: "Upstream service error, please retry or switch model",
    503: "Service temporarily unavailable, please retry after 30 seconds",
    504: "Gateway timeout",
}
#: What an Envoy-style proxy sends when its upstream dies mid-request.
_GARBAGE = "upstream connect error or disconnect/reset before headers. reset reason: overflow\n"
_PLACEHOLDER = b'{"id": "task-unified-0-00000000", "status": "pending"}'


async def misbehave(rule: FaultRule, request: web.Request, handle: Handle) -> web.StreamResponse:
    """Answer `request` as `rule` says; `handle()` runs the normal handling when the rule needs it."""
    is_download = request.path.startswith("/files/")
    if rule.kind == "reset" and not rule.after_processing and request.path.startswith(UPLOAD_PREFIX):
        context_of(request).cut_upload = True  # the upload handler drops the connection halfway
        return await handle()
    if rule.kind == "delay":
        if rule.after_processing:
            response = await handle()
            await asyncio.sleep(rule.seconds)
            return response
        await asyncio.sleep(rule.seconds)
        return await handle()
    if is_download and rule.kind == "truncated":
        context_of(request).cut_download = True  # the download handler stops halfway
        return await handle()
    processed = None
    if (rule.after_processing or rule.kind == "truncated") and not is_download:
        processed = await handle()
    if rule.kind == "reset":
        reset_connection(request)
        return web.Response(status=502)  # never reaches the client: aiohttp finds the socket closed
    if rule.kind == "truncated":
        body = processed.body if isinstance(processed, web.Response) else None
        data = body if isinstance(body, bytes) else _PLACEHOLDER
        return web.Response(status=200, body=data[: len(data) // 2], content_type="application/json")
    if rule.kind == "non_json":
        return web.Response(status=200, text=_GARBAGE, content_type="text/plain")
    headers = {"Retry-After": rule.retry_after} if rule.retry_after is not None else None
    if rule.body == "html":
        return html_error(rule.status, headers)
    if rule.body == "success_false":  # the file service's way: HTTP 200, and the status as `code`
        message = _MESSAGES.get(rule.status, reason(rule.status))
        envelope = {"success": False, "code": rule.status, "msg": message, "data": None}
        return web.json_response(envelope, status=200, headers=headers)
    return json_error(
        rule.status,
        _MESSAGES.get(rule.status, reason(rule.status)),
        headers=headers,
        extra=_suggestion(rule),
    )


def _suggestion(rule: FaultRule) -> dict[str, object] | None:
    """The `fallback_suggestion` the gateway adds to answers worth retrying (its own words vary)."""
    if rule.status == 429:
        return {"fallback_suggestion": f"retry after {rule.retry_after or 60} seconds"}
    if rule.status == 502:
        return {"fallback_suggestion": "retry, or switch to another model"}
    if rule.status == 503:
        return {"fallback_suggestion": f"retry after {rule.retry_after or 30} seconds"}
    return None


def reset_connection(request: web.Request) -> None:
    """Drop the connection with a TCP RST, as a crashing proxy would; the client gets no response."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()

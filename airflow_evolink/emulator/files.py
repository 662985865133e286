"""GET /files/{task_id}.mp4: the result link, behaving like a signed CDN URL (no auth, expires)."""

from __future__ import annotations

from aiohttp import web

from airflow_evolink.emulator.content import RangeNotSatisfiable, parse_range, video_chunks
from airflow_evolink.emulator.context import context_of, state_of

_EXPIRED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>AccessDenied</Code><Message>Request has expired: result links are valid for 24 hours "
    "after the task completes</Message></Error>\n"
)
_MISSING = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>\n"
)


async def download(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    name = request.match_info["name"]
    task_id = name.removesuffix(".mp4")
    with state.lock:
        job = state.jobs.get(task_id) if name.endswith(".mp4") else None
        result = (
            "missing" if job is None else job.result_state(state.clock.now(), state.config.result_ttl_seconds)
        )
    if result == "missing":
        return web.Response(status=404, text=_MISSING, content_type="application/xml")
    if result == "expired":
        return web.Response(status=403, text=_EXPIRED, content_type="application/xml")

    size = state.config.result_bytes
    try:
        wanted = parse_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
    start, end = wanted if wanted is not None else (0, size)
    response = web.StreamResponse(status=206 if wanted is not None else 200)
    response.content_type = "video/mp4"
    response.content_length = end - start
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["ETag"] = f'"{task_id}-{size}"'
    if wanted is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    cut_at = start + (end - start) // 2 if context_of(request).cut_download else None
    for chunk in video_chunks(task_id, size, start, cut_at if cut_at is not None else end):
        await response.write(chunk)
    if cut_at is not None:
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response

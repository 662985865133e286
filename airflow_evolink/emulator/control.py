"""The /_emulator/ control API: the fault and state API over HTTP, for clients in other processes.

Routes (no auth, not logged):
  POST   /_emulator/faults          a FaultRule as JSON, or a list; `{"preset": name, "count": n}` uses
                                    faults.PRESETS, e.g. "post-502-after-create" (create, charge, answer 502)
  GET    /_emulator/faults          pending rules and job overrides
  DELETE /_emulator/faults          drop both
  POST   /_emulator/jobs            job overrides: {"status", "error", "results", "job_seconds", "count",
                                    "result_shape", "cost_shape", "extra_fields", "interim_status",
                                    "interim_share"}; `error` may be just a code; status "cancelled" gets
                                    error request_cancelled
  POST   /_emulator/results/expire  expire every live result link now
  POST   /_emulator/reset           a fresh emulator
  GET    /_emulator/requests        the request log
  GET    /_emulator/stats           counters
  GET    /_emulator/tasks           every task, with what the emulator recorded about it
  POST   /_emulator/clock           {"advance": seconds}
  GET    /_emulator/uploads         the file service: uploads accepted, deleted, files held, upload ids
                                    seen, receipts kept
  POST   /_emulator/upload-receipts {"status": 200 | 404 | 405}: the receipts route answers normally, or
                                    as an older file service without it
  POST   /_emulator/credits         {"remaining": n} sets the account balance and the key's figure;
                                    {"user": n, "token": n, "unlimited": bool} sets each (all optional)
  POST   /_emulator/pricing         {"status": 200 | 404 | 5xx} makes the public pricing-rules routes answer
                                    normally, 404 or that 5xx; {"revision": n} publishes a new version
                                    (new ETag, same figures). GET shows the settings.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from airflow_evolink.emulator.context import STATE_KEY
from airflow_evolink.emulator.faults import FaultRule
from airflow_evolink.emulator.jobs import JobOverride, make_error
from airflow_evolink.emulator.state import StateView

PREFIX = "/_emulator"


class _BadPayload(Exception):
    pass


def add_control_routes(app: web.Application) -> None:
    router = app.router
    router.add_post(f"{PREFIX}/faults", add_faults)
    router.add_get(f"{PREFIX}/faults", list_faults)
    router.add_delete(f"{PREFIX}/faults", clear_faults)
    router.add_post(f"{PREFIX}/jobs", add_job_overrides)
    router.add_post(f"{PREFIX}/results/expire", expire_results)
    router.add_post(f"{PREFIX}/reset", reset)
    router.add_get(f"{PREFIX}/requests", list_requests)
    router.add_get(f"{PREFIX}/stats", stats)
    router.add_get(f"{PREFIX}/tasks", list_tasks)
    router.add_post(f"{PREFIX}/clock", advance_clock)
    router.add_post(f"{PREFIX}/credits", set_credits)
    router.add_get(f"{PREFIX}/uploads", list_uploads)
    router.add_post(f"{PREFIX}/upload-receipts", set_upload_receipts)
    router.add_post(f"{PREFIX}/pricing", set_pricing)
    router.add_get(f"{PREFIX}/pricing", get_pricing)


async def add_faults(request: web.Request) -> web.Response:
    faults = request.app[STATE_KEY].faults
    try:
        items = _as_list(await _payload(request))
        rules = [FaultRule.from_dict(item) for item in items]
    except (_BadPayload, ValueError, TypeError) as error:
        return _bad(error)
    for rule in rules:
        faults.add(rule)
    return _ok({"added": len(rules), "faults": faults.pending()})


async def list_faults(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    with state.lock:
        overrides = [override.to_dict() for override in state.jobs.overrides]
    return _ok({"faults": state.faults.pending(), "job_overrides": overrides})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE_KEY].faults.clear()
    return _ok({"faults": []})


async def add_job_overrides(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    try:
        overrides = [_override(item) for item in _as_list(await _payload(request))]
    except (_BadPayload, ValueError, TypeError) as error:
        return _bad(error)
    for override in overrides:
        state.faults.override_jobs(override)
    with state.lock:
        pending = [override.to_dict() for override in state.jobs.overrides]
    return _ok({"added": len(overrides), "job_overrides": pending})


async def expire_results(request: web.Request) -> web.Response:
    return _ok({"expired": request.app[STATE_KEY].faults.expire_results_now()})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return _ok({"reset": True})


async def list_requests(request: web.Request) -> web.Response:
    return _ok({"requests": StateView(request.app[STATE_KEY]).requests()})


async def stats(request: web.Request) -> web.Response:
    return _ok(StateView(request.app[STATE_KEY]).stats())


async def list_tasks(request: web.Request) -> web.Response:
    return _ok({"tasks": StateView(request.app[STATE_KEY]).tasks()})


async def list_uploads(request: web.Request) -> web.Response:
    return _ok(StateView(request.app[STATE_KEY]).uploads())


async def set_upload_receipts(request: web.Request) -> web.Response:
    view = StateView(request.app[STATE_KEY])
    try:
        data = await _payload(request)
        if not isinstance(data, dict) or set(data) != {"status"}:
            raise _BadPayload('expected {"status": 200 | 404 | 405}')
        status = view.set_upload_receipts(data["status"])
    except (_BadPayload, ValueError) as error:
        return _bad(error)
    return _ok({"status": status})


async def advance_clock(request: web.Request) -> web.Response:
    clock = request.app[STATE_KEY].clock
    try:
        data = await _payload(request)
        seconds = data.get("advance") if isinstance(data, dict) else None
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise _BadPayload('expected {"advance": <seconds>}')
        offset = clock.advance(float(seconds))
    except (_BadPayload, ValueError) as error:
        return _bad(error)
    return _ok({"offset": offset})


async def set_credits(request: web.Request) -> web.Response:
    view = StateView(request.app[STATE_KEY])
    try:
        data = await _payload(request)
        if not isinstance(data, dict) or not data:
            raise _BadPayload(_CREDITS_SHAPE)
        unknown = set(data) - {"remaining", "user", "token", "unlimited"}
        if unknown:
            raise _BadPayload(f"unknown credits field(s): {', '.join(sorted(unknown))}; {_CREDITS_SHAPE}")
        figures = {name: data.get(name) for name in ("remaining", "user", "token")}
        for value in figures.values():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise _BadPayload(_CREDITS_SHAPE)
        unlimited = data.get("unlimited")
        if unlimited is not None and not isinstance(unlimited, bool):
            raise _BadPayload(_CREDITS_SHAPE)
    except _BadPayload as error:
        return _bad(error)
    view.set_credits(figures["remaining"], user=figures["user"], token=figures["token"], unlimited=unlimited)
    return _ok(view.credits())


async def set_pricing(request: web.Request) -> web.Response:
    view = StateView(request.app[STATE_KEY])
    try:
        data = await _payload(request)
        if not isinstance(data, dict) or not data or set(data) - {"status", "revision"}:
            raise _BadPayload('expected {"status": 200 | 404 | 5xx, "revision": <n>} (either)')
        settings = view.set_pricing_routes(data.get("status"), revision=data.get("revision"))
    except (_BadPayload, ValueError) as error:
        return _bad(error)
    return _ok(settings)


async def get_pricing(request: web.Request) -> web.Response:
    return _ok(StateView(request.app[STATE_KEY]).set_pricing_routes())


_CREDITS_SHAPE = (
    'expected {"remaining": <credits>} or {"user": <credits>, "token": <credits>, "unlimited": <bool>}'
)


_OVERRIDE_FIELDS = {
    "status",
    "error",
    "results",
    "job_seconds",
    "count",
    "result_shape",
    "cost_shape",
    "extra_fields",
    "interim_status",
    "interim_share",
}


def _override(item: dict[str, Any]) -> JobOverride:
    """Parse one job override (see the module docstring); `error` may be just a code."""
    unknown = set(item) - _OVERRIDE_FIELDS
    if unknown:
        raise _BadPayload(f"unknown job override field(s): {', '.join(sorted(unknown))}")
    error = item.get("error")
    if isinstance(error, str):
        error = make_error(error)
    elif isinstance(error, dict):
        error = make_error(str(error.get("code", "unknown_error")), error.get("message"))
    elif error is not None:
        raise _BadPayload("error must be a code string or {code, message}")
    status = item.get("status")
    if status is None and error is not None:
        status = "failed"
    extra_fields = item.get("extra_fields")
    return JobOverride(
        status=status,
        error=error,
        results=bool(item.get("results", status in (None, "completed"))),
        job_seconds=item.get("job_seconds"),
        count=int(item.get("count", 1)),
        result_shape=item.get("result_shape"),
        cost_shape=item.get("cost_shape"),
        extra_fields=None if extra_fields is None else bool(extra_fields),
        interim_status=item.get("interim_status"),
        interim_share=item.get("interim_share"),
    )


async def _payload(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError as error:
        raise _BadPayload(f"body must be JSON: {error}") from error


def _as_list(data: Any) -> list[dict[str, Any]]:
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise _BadPayload("expected a JSON object or a list of objects")
    return items


def _ok(data: Any) -> web.Response:
    return web.json_response(data)


def _bad(error: Exception) -> web.Response:
    return web.json_response({"error": str(error)}, status=400)

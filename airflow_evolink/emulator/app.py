"""The aiohttp application: routes plus one middleware that logs, injects faults and checks auth."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from airflow_evolink.emulator import api, batch, catalog, files, uploads
from airflow_evolink.emulator.config import CREATE_PATH
from airflow_evolink.emulator.context import CONTEXT_KEY, STATE_KEY, RequestContext
from airflow_evolink.emulator.control import PREFIX, add_control_routes
from airflow_evolink.emulator.errors import json_error
from airflow_evolink.emulator.faults import FaultRule
from airflow_evolink.emulator.misbehave import misbehave
from airflow_evolink.emulator.recorder import RequestRecord
from airflow_evolink.emulator.state import EmulatorState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_ids = itertools.count(1)
_ID_PREFIX = secrets.token_hex(4)


def create_app(state: EmulatorState) -> web.Application:
    """The emulator as an aiohttp app, for EmulatorServer or any aiohttp runner."""
    app = web.Application(middlewares=[_emulate], client_max_size=state.config.max_body_bytes)
    app[STATE_KEY] = state
    app.router.add_post(CREATE_PATH, api.create_task)
    batch.add_batch_routes(app, state.config)
    app.router.add_get("/v1/tasks/{task_id}", api.get_task)
    app.router.add_get("/v1/credits", api.get_credits)
    catalog.add_catalog_routes(app)
    app.router.add_get("/files/{name}", files.download)
    uploads.add_upload_routes(app)
    add_control_routes(app)
    app.on_response_prepare.append(_add_request_id)
    return app


@web.middleware
async def _emulate(request: web.Request, handler: Handler) -> web.StreamResponse:
    context = RequestContext(
        request_id=f"req-{_ID_PREFIX}-{next(_ids):08x}",
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    request[CONTEXT_KEY] = context
    if request.path.startswith(PREFIX + "/"):
        return await handler(request)
    state = request.app[STATE_KEY]
    # The idempotency key is claimed on arrival, before any injected delay, so a second request with
    # it meanwhile learns that the first is still being processed.
    owner = api.ledger_owner(request)
    if owner is not None:
        with state.lock:
            claimed = state.idempotency.claim(owner)
        if not claimed:
            busy = api.outcome_unknown()
            _record(state, request, context, busy.status, None)
            return busy
    rule = None
    if state.plan.rules:
        with state.lock:
            rule = state.plan.take(request.method, request.path)
    status = 0
    try:
        if rule is None:
            response = await _handle(request, handler)
        else:
            response = await misbehave(rule, request, lambda: _handle(request, handler))
        status = 0 if rule is not None and rule.kind == "reset" else response.status
        return response
    finally:
        if owner is not None:
            with state.lock:
                state.idempotency.release(owner)  # a no-op once the request created its task
        _record(state, request, context, status, rule)


async def _handle(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Normal handling: auth and rate limit on /v1, then the route; router errors become JSON."""
    try:
        # The pricing-rules routes are public: no key, and no key is checked.
        public = request.path.startswith(catalog.PREFIX)
        if not public and request.path.startswith(("/v1/", uploads.PREFIX + "/")):
            refusal = api.gate(request)
            if refusal is not None:
                return refusal
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return json_error(error.status, f"{error.reason}: {request.method} {request.path}")


def _record(
    state: EmulatorState, request: web.Request, context: RequestContext, status: int, rule: FaultRule | None
) -> None:
    resource = request.match_info.route.resource
    record = RequestRecord(
        time=state.clock.wall(),
        method=request.method,
        path=request.path,
        route=resource.canonical if resource is not None else "<unmatched>",
        status=status,
        request_id=context.request_id,
        idempotency_key=context.idempotency_key,
        task_id=context.task_id,
        task_created=context.task_created,
        credits_charged=context.credits_charged,
        uc_charged=context.uc_charged,
        replay=context.replay,
        body=context.body,
        fault=None if rule is None else rule.kind,
        authorization="Authorization" in request.headers,
    )
    with state.lock:
        state.recorder.add(record)


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    context = request.get(CONTEXT_KEY)
    if isinstance(context, RequestContext):
        response.headers["x-request-id"] = context.request_id

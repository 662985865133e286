"""The /v1 routes: create a task, read a task, read the credit balance.

Error answers carry the gateway's string codes (see errors.py): 401 `invalid_token`, 402
`insufficient_quota` (account balance) or `key_quota_exhausted` (the key's own limit, with the figures
flat in `error`), 409 `idempotency_conflict` / `paid_outcome_unknown`, 400 `invalid_request` for a bad
body or Idempotency-Key. The rate limit answers 429 with `Retry-After` and a `fallback_suggestion`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from airflow_evolink.emulator.billing import CreditShortfall
from airflow_evolink.emulator.config import CREATE_PATH
from airflow_evolink.emulator.context import base_url, context_of, state_of
from airflow_evolink.emulator.errors import (
    IDEMPOTENCY_CONFLICT,
    INVALID_REQUEST,
    INVALID_TASK_ID,
    INVALID_TOKEN,
    PAID_OUTCOME_UNKNOWN,
    json_error,
)
from airflow_evolink.emulator.idempotency import REPLAYED_HEADER, Owner, fingerprint, valid_key
from airflow_evolink.emulator.inputs import InputFailure, fetch_inputs, own_netlocs
from airflow_evolink.emulator.validation import ValidationError, validate

TASK_ID_RE = re.compile(r"[A-Za-z0-9._:-]{4,128}")


def bearer_token(request: web.Request) -> str | None:
    """The API key from `Authorization: Bearer <key>`, or None when the header is missing or malformed."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def ledger_owner(request: web.Request) -> Owner | None:
    """(API key, Idempotency-Key) for a paid POST whose key the ledger should track, else None."""
    if request.method != "POST" or request.path != CREATE_PATH:
        return None
    key = request.headers.get("Idempotency-Key")
    token = bearer_token(request)
    if key is None or token is None or not valid_key(key):
        return None
    return token, key


def outcome_unknown() -> web.Response:
    """The answer to a key whose first request is still being processed."""
    return json_error(
        409,
        "A request with this Idempotency-Key is still being processed; wait, then retry with the same key",
        code=PAID_OUTCOME_UNKNOWN,
        headers={"Retry-After": "1"},
    )


def gate(request: web.Request) -> web.Response | None:
    """Auth, then the rate limit; returns the refusal, or None to go on."""
    state = state_of(request)
    token = bearer_token(request)
    if token is None:
        return json_error(
            401,
            "Missing or malformed Authorization header; expected 'Bearer <API key>'",
            code=INVALID_TOKEN,
        )
    if state.config.api_key is not None and token != state.config.api_key:
        return json_error(401, "Invalid API key", code=INVALID_TOKEN)
    context_of(request).api_key = token
    if state.bucket is None:
        return None
    with state.lock:
        wait = state.bucket.take(state.clock.now())
    if wait:
        return json_error(
            429,
            f"Rate limit exceeded, retry after {wait} seconds",
            headers={"Retry-After": str(wait)},
            extra={"fallback_suggestion": f"retry after {wait} seconds"},
        )
    return None


async def create_task(request: web.Request) -> web.Response:
    state = state_of(request)
    context = context_of(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not valid_key(key):
        return json_error(
            400,
            "Idempotency-Key must be 16-96 characters from A-Z a-z 0-9 . _ -",
            "Idempotency-Key",
            code=INVALID_REQUEST,
        )
    limit = state.config.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return _too_large(limit)
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _too_large(limit)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return json_error(400, "Request body must be valid JSON", code=INVALID_REQUEST)
    context.body = body
    if not isinstance(body, dict):
        return json_error(400, "Request body must be a JSON object", code=INVALID_REQUEST)
    owner: Owner | None = (context.api_key, key) if key else None
    print_ = fingerprint(body) if owner else ""
    with state.lock:
        prior = state.idempotency.get(owner) if owner else None
        if prior is not None and not prior.in_flight:
            if prior.fingerprint != print_:
                return json_error(
                    409,
                    "Idempotency-Key reused with a different request body",
                    code=IDEMPOTENCY_CONFLICT,
                )
            context.replay = True
            context.task_id = prior.task_id
            return _json(prior.response or "{}", {REPLAYED_HEADER: "true"})
        try:
            valid = validate(body)
        except ValidationError as error:
            return json_error(400, error.message, error.param, code=getattr(error, "code", None))
    # The generation starts: its inputs are fetched outside the lock (the key is claimed meanwhile, so a
    # second request with it waits in 409 paid_outcome_unknown). One it cannot read fails the task.
    unreadable = await _unreadable_input(request, body) if state.config.fetch_inputs else None
    with state.lock:
        state.settle()
        try:
            state.ledger.charge(valid.uc)
        except CreditShortfall as error:
            return json_error(402, error.message, code=error.code, extra=error.details)
        job = state.jobs.create(
            valid, context.api_key, input_error=None if unreadable is None else unreadable.error()
        )
        text = json.dumps(job.view(job.started, base_url(request), initial=True))
        if owner is not None:
            state.idempotency.record(owner, print_, job.id, text)
    context.task_id = job.id
    context.task_created = True
    context.credits_charged = valid.credits
    context.uc_charged = valid.uc
    return _json(text)


async def get_task(request: web.Request) -> web.Response:
    state = state_of(request)
    task_id = request.match_info["task_id"]
    if not TASK_ID_RE.fullmatch(task_id):
        return json_error(
            400,
            "Invalid task ID format: expected 4-128 characters from A-Z a-z 0-9 . _ : - "
            "(for example task-unified-1757169743-7cvnl5zw)",
            "task_id",
            code=INVALID_TASK_ID,
        )
    with state.lock:
        state.settle()
        job = state.jobs.get(task_id)
        now = state.clock.now()
        view: dict[str, Any] | None = None if job is None else job.view(now, base_url(request))
        if job is not None:
            job.synced_at = now
    if view is None:
        return json_error(404, f"Task {task_id} not found")
    context_of(request).task_id = task_id
    return _json(json.dumps(view))


async def get_credits(request: web.Request) -> web.Response:
    state = state_of(request)
    with state.lock:
        state.settle()
        text = json.dumps(state.ledger.view())
    return _json(text)


async def _unreadable_input(request: web.Request, body: dict[str, Any]) -> InputFailure | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    port = sockname[1] if isinstance(sockname, tuple) and len(sockname) >= 2 else None
    return await fetch_inputs(body, state=state_of(request), own=own_netlocs(request.host, port))


def _too_large(limit: int) -> web.Response:
    return json_error(413, f"Request body is larger than {limit} bytes")


def _json(text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=text, content_type="application/json", headers=headers)

"""The /v1 routes: create a task, read a task, read the credit balance."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from aiohttp import web

from airflow_evolink.emulator.billing import InsufficientCredits
from airflow_evolink.emulator.context import base_url, context_of, state_of
from airflow_evolink.emulator.errors import json_error
from airflow_evolink.emulator.state import IdempotentResult
from airflow_evolink.emulator.validation import ValidationError, validate

TASK_ID_RE = re.compile(r"[A-Za-z0-9._:-]{4,128}")


def gate(request: web.Request) -> web.Response | None:
    """Auth, then the rate limit; returns the refusal, or None to go on."""
    state = state_of(request)
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return json_error(401, "Missing or malformed Authorization header; expected 'Bearer <API key>'")
    if state.config.api_key is not None and token != state.config.api_key:
        return json_error(401, "Invalid API key")
    context_of(request).api_key = token
    if state.bucket is None:
        return None
    with state.lock:
        wait = state.bucket.take(state.clock.now())
    if wait:
        return json_error(
            429, f"Rate limit exceeded, retry after {wait} seconds", headers={"Retry-After": str(wait)}
        )
    return None


async def create_task(request: web.Request) -> web.Response:
    state = state_of(request)
    context = context_of(request)
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
        return json_error(400, "Request body must be valid JSON")
    if not isinstance(body, dict):
        return json_error(400, "Request body must be a JSON object")
    key = context.idempotency_key
    fingerprint = _fingerprint(body) if key else ""
    with state.lock:
        if key:
            prior = state.idempotency.get((context.api_key, key))
            if prior is not None:
                if prior.fingerprint != fingerprint:
                    return json_error(409, "Idempotency-Key reused with a different request body")
                context.replay = True
                context.task_id = prior.task_id
                return _json(prior.response, {"Idempotent-Replayed": "true"})
        try:
            valid = validate(body)
        except ValidationError as error:
            return json_error(400, error.message, error.param)
        try:
            state.ledger.charge(valid.credits)
        except InsufficientCredits as error:
            return json_error(402, str(error))
        job = state.jobs.create(valid, context.api_key)
        text = json.dumps(job.view(job.started, base_url(request), initial=True))
        if key:
            state.idempotency[(context.api_key, key)] = IdempotentResult(fingerprint, job.id, text)
    context.task_id = job.id
    context.task_created = True
    context.credits_charged = valid.credits
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
        )
    with state.lock:
        job = state.jobs.get(task_id)
        view: dict[str, Any] | None = None if job is None else job.view(state.clock.now(), base_url(request))
    if view is None:
        return json_error(404, f"Task {task_id} not found")
    context_of(request).task_id = task_id
    return _json(json.dumps(view))


async def get_credits(request: web.Request) -> web.Response:
    state = state_of(request)
    with state.lock:
        text = json.dumps(state.ledger.view())
    return _json(text)


def _too_large(limit: int) -> web.Response:
    return json_error(413, f"Request body is larger than {limit} bytes")


def _fingerprint(body: dict[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _json(text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(text=text, content_type="application/json", headers=headers)

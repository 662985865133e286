"""Requests and responses of the Evolink API as plain data: no sockets here.

A transport (``requests`` in the hook, aiohttp in the trigger) sends an :class:`ApiCall` and hands the
status, headers and body back to :func:`interpret_response`, which returns decoded JSON or raises the
error class that says what happened and whether a retry can help.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from airflow_evolink.core.error_codes import (
    ACCOUNT_BALANCE_CODES,
    CONTENT_CODES,
    IDEMPOTENCY_CONFLICT_CODES,
    IN_FLIGHT_CODES,
    KEY_DAILY_CODES,
    KEY_QUOTA_CODES,
    KEY_STATE_CODES,
    MODEL_NOT_ALLOWED_CODES,
    UNAVAILABLE_CODES,
    looks_like_input_problem,
    normalize_code,
)
from airflow_evolink.core.errors import (
    EvolinkAPIError,
    EvolinkAuthError,
    EvolinkBadRequestError,
    EvolinkIdempotencyConflictError,
    EvolinkInsufficientCreditsError,
    EvolinkNotFoundError,
    EvolinkRateLimitError,
    EvolinkResponseError,
    EvolinkServerError,
    EvolinkValidationError,
)
from airflow_evolink.core.models import VideoRequest

DEFAULT_BASE_URL = "https://api.evolink.ai"
SUBMIT_PATH = "/v1/videos/generations"
TASK_PATH = "/v1/tasks/{task_id}"
#: Read many tasks in one request (Evolink's own client uses it; not on the public doc pages).
TASK_BATCH_PATH = "/v1/tasks/batch"
#: The most task ids one batch read may ask for.
MAX_BATCH_TASKS = 50
CREDITS_PATH = "/v1/credits"
USER_AGENT = "airflow-provider-evolink"

# A task or credits body is a few KiB. Anything far larger is a broken or hostile server.
MAX_RESPONSE_BYTES = 2 * 1024 * 1024
TASK_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{4,128}$")
REQUEST_ID_HEADERS = ("x-request-id", "x-oneapi-request-id")
#: Statuses that say the answer timed out somewhere on the way: the request may have been processed.
TIMEOUT_STATUSES = frozenset({408, 425, 499})
#: Set on an answer replayed from the Idempotency-Key ledger (evolink-cli services/api-client.js).
REPLAYED_HEADER = "idempotency-replayed"
#: The gateway accepts Idempotency-Key values of 16-96 of these characters (evolink-cli http-policy.js).
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._-]{16,96}$")


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request to the API. ``paid`` marks the POST that reserves credits."""

    method: str
    path: str
    json_body: dict[str, Any] | None = None
    idempotency_key: str | None = None
    paid: bool = False
    extra_headers: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def headers(self, api_key: str) -> dict[str, str]:
        """Headers to send. The key is added here, at the last moment, and never stored elsewhere."""
        headers = {
            "Authorization": f"Bearer {api_key}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        if self.json_body is not None:
            headers["Content-Type"] = "application/json"
        if self.idempotency_key:
            # Evolink's own client sends the key under both names (evolink-cli services/api-client.js).
            headers["Idempotency-Key"] = self.idempotency_key
            headers["X-Evo-Run-Id"] = self.idempotency_key
        headers.update(dict(self.extra_headers))
        return headers

    def body_bytes(self) -> bytes | None:
        if self.json_body is None:
            return None
        return json.dumps(self.json_body, separators=(",", ":")).encode()

    def describe(self) -> str:
        return f"{self.method} {self.path}"


def submit_call(request: VideoRequest, idempotency_key: str | None) -> ApiCall:
    if idempotency_key is not None:
        check_idempotency_key(idempotency_key)
    return ApiCall("POST", SUBMIT_PATH, request.payload(), idempotency_key=idempotency_key, paid=True)


def check_idempotency_key(key: Any) -> str:
    """Refuse a key the gateway would refuse, before anything is sent (evolink-cli http-policy.js)."""
    if not isinstance(key, str) or not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise EvolinkValidationError(
            "idempotency_key",
            "must be 16 to 96 characters of letters, digits and . _ - (the Idempotency-Key the Evolink "
            "gateway accepts)",
            key,
        )
    return key


def check_task_id(task_id: Any) -> str:
    """Task ids look like ``task-unified-1757169743-7cvnl5zw``; accept any id of the API's id alphabet."""
    if not isinstance(task_id, str) or not TASK_ID_PATTERN.fullmatch(task_id):
        raise EvolinkValidationError(
            "evolink_task_id",
            "must be an Evolink task id such as 'task-unified-1757169743-7cvnl5zw' "
            "(4-128 characters of letters, digits and . _ : -)",
            task_id,
        )
    return task_id


def get_task_call(task_id: str) -> ApiCall:
    return ApiCall("GET", TASK_PATH.format(task_id=quote(check_task_id(task_id), safe="")))


def batch_tasks_call(task_ids: Sequence[str]) -> ApiCall:
    """``POST /v1/tasks/batch`` with ``{"task_ids": [...]}``: 1 to :data:`MAX_BATCH_TASKS` ids.

    The answer is ``{"data": [task objects]}``; unknown or foreign ids are simply absent. It is a read:
    no ``Idempotency-Key``, not ``paid``, so it is retried as GETs are.
    """
    ids = [check_task_id(task_id) for task_id in task_ids]
    if not 1 <= len(ids) <= MAX_BATCH_TASKS:
        raise EvolinkValidationError("task_ids", f"must hold 1 to {MAX_BATCH_TASKS} task ids", len(ids))
    return ApiCall("POST", TASK_BATCH_PATH, {"task_ids": ids})


def credits_call() -> ApiCall:
    return ApiCall("GET", CREDITS_PATH)


def normalize_base_url(host: str | None, *, scheme: str | None = None, port: int | None = None) -> str:
    """Turn a connection's host (bare host or full URL) into a base URL without a trailing slash."""
    host = (host or "").strip()
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        host = f"{scheme or 'https'}://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EvolinkValidationError("host", "must be a host name or an http(s) base URL", host)
    base = host.rstrip("/")
    if port and parts.port is None:
        base = f"{parts.scheme}://{parts.netloc}:{port}{parts.path.rstrip('/')}"
    return base


def interpret_response(status: int, headers: Mapping[str, str], body: bytes) -> Any:
    """Decode a 2xx JSON body, or raise the error class that matches the status and body.

    A POST answered from Evolink's Idempotency-Key ledger (header ``idempotency-replayed: true``) gets
    ``"idempotency_replayed": true`` in its body, as Evolink's own client marks it.
    """
    if 200 <= status < 300:
        data = decode_json(body, status)
        replayed = headers.get(REPLAYED_HEADER)
        if replayed is not None and type(data) is dict and replayed.strip().lower() == "true":
            data["idempotency_replayed"] = True
        return data
    raise error_from_response(status, headers, body)


def decode_json(body: bytes, status: int | None = None) -> Any:
    if len(body) > MAX_RESPONSE_BYTES:
        raise EvolinkResponseError(f"Evolink response body too large ({len(body)} bytes)", http_status=status)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise EvolinkResponseError(
            f"Evolink answered HTTP {status} with a body that is not valid JSON: {_snippet(body)}",
            http_status=status,
        ) from None


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> EvolinkAPIError:
    """Build the error for a non-2xx answer: by ``error.code`` first, then by HTTP status.

    HTML or truncated bodies still give a useful message.
    """
    fields = _error_fields(body)
    message = fields.message
    if message is None:
        message = f"no Evolink error body ({_snippet(body)})" if body else "empty response body"
    lowered = {key.lower(): value for key, value in headers.items()}
    request_id = next((lowered[name] for name in REQUEST_ID_HEADERS if name in lowered), None)
    kwargs: dict[str, Any] = {
        "http_status": status,
        "error_type": fields.error_type,
        "code": fields.code,
        "param": fields.param,
        "request_id": request_id,
        "retry_after": parse_retry_after(lowered.get("retry-after")),
        "suggestion": fields.suggestion,
    }
    by_code = _error_by_code(normalize_code(fields.code), status, message, kwargs)
    if by_code is not None:
        return by_code
    if status in TIMEOUT_STATUSES:
        return EvolinkServerError(message, retryable=True, **kwargs)
    if status == 429:
        return EvolinkRateLimitError(message, retryable=True, **kwargs)
    if status in (401, 403):
        return EvolinkAuthError(message, **kwargs)
    if status == 402:
        return EvolinkInsufficientCreditsError(message, **kwargs)
    if status == 404:
        return EvolinkNotFoundError(message, **kwargs)
    if status >= 500:
        # 501 and 505 say the server cannot do this at all: retry later (Airflow), not at once.
        return EvolinkServerError(message, retryable=True, transient=status not in (501, 505), **kwargs)
    if 400 <= status < 500:
        return EvolinkBadRequestError(message, **kwargs)
    return EvolinkAPIError(message, **kwargs)


def _error_by_code(
    code: str | None, status: int, message: str, kwargs: dict[str, Any]
) -> EvolinkAPIError | None:
    """The error a string code names, whatever the HTTP status; None when the code decides nothing."""
    if code is None or code.isdigit():
        return None
    if code in ACCOUNT_BALANCE_CODES:
        return EvolinkInsufficientCreditsError(
            message, hint="The Evolink account balance is too low: top up, then retry.", **kwargs
        )
    if code in KEY_QUOTA_CODES:
        return EvolinkInsufficientCreditsError(
            message,
            hint="This API key's own spending limit is used up (not the account balance): raise the "
            "key's limit in the Evolink dashboard or use another key.",
            **kwargs,
        )
    if code in KEY_DAILY_CODES:
        return EvolinkInsufficientCreditsError(
            message,
            retryable=True,
            transient=False,
            hint="This API key's daily limit is used up; it resets at midnight, so a later retry works.",
            **kwargs,
        )
    if code in KEY_STATE_CODES or code in MODEL_NOT_ALLOWED_CODES:
        return EvolinkAuthError(message, **kwargs)
    if code in IDEMPOTENCY_CONFLICT_CODES:
        return EvolinkIdempotencyConflictError(
            message,
            hint="The Idempotency-Key was already used for a different request; nothing was created for "
            "this one. Use a new key for a new generation.",
            **kwargs,
        )
    if code in IN_FLIGHT_CODES:
        # The first request with this key is still being processed: send again later, same key.
        return EvolinkServerError(message, retryable=True, **kwargs)
    if code in UNAVAILABLE_CODES:
        return EvolinkServerError(message, retryable=True, **kwargs)
    if code in CONTENT_CODES:
        return EvolinkBadRequestError(message, **kwargs)
    # A code that names the input decides only for a plain refusal: a 401 ``invalid_api_key`` stays an
    # auth error, and a 5xx ``image_download_failed`` a server error.
    if 400 <= status < 500 and status not in (401, 403, 429) and looks_like_input_problem(code):
        return EvolinkBadRequestError(message, **kwargs)
    return None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds to wait: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class _ErrorFields(NamedTuple):
    message: str | None = None
    error_type: str | None = None
    code: int | str | None = None
    param: str | None = None
    suggestion: str | None = None


def _error_fields(body: bytes) -> _ErrorFields:
    """The parts of ``{"error": {code, message, type, param, suggestion | fallback_suggestion}}``.

    Also reads a flat ``{"code", "message"}`` or ``{"error": "text"}`` body, as other services answer.
    """
    try:
        data = json.loads(body) if body and len(body) <= MAX_RESPONSE_BYTES else None
    except (ValueError, UnicodeDecodeError):
        return _ErrorFields()
    if not isinstance(data, dict):
        return _ErrorFields()
    error = data.get("error", data)
    if isinstance(error, str):
        # OAuth-style {"error": "key_disabled", "error_description": "..."}: the string is the code.
        description = data.get("error_description") or data.get("message")
        if description and _CODE_TEXT.fullmatch(error):
            return _ErrorFields(str(description), code=error)
        return _ErrorFields(error, code=data.get("code") if _plain(data.get("code")) else None)
    if not isinstance(error, dict):
        return _ErrorFields()
    message = error.get("message") or data.get("message") or error.get("msg")
    suggestion = error.get("suggestion") or error.get("fallback_suggestion")
    error_type = error.get("type")
    param = error.get("param")
    code = error.get("code")
    return _ErrorFields(
        str(message) if message is not None else None,
        str(error_type) if error_type else None,
        code if _plain(code) else None,
        str(param) if param else None,
        str(suggestion) if suggestion else None,
    )


_CODE_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9_.]{2,80}")


def _plain(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _snippet(body: bytes, limit: int = 120) -> str:
    text = body[:limit].decode("utf-8", "replace")
    text = " ".join(text.split())
    return repr(text + ("..." if len(body) > limit else ""))

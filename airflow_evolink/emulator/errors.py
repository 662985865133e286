"""Error responses in the shapes the real API (and the nginx in front of it) sends.

The gateway's `error.code` is often a string business code (below), sometimes the integer HTTP status
(`error_body` falls back to it when no code is given, as some doc pages show). Clients must accept both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from aiohttp import web

#: String codes the gateway sends (Evolink's own client, services/error-handler.js, knows them by name).
INVALID_TOKEN = "invalid_token"  # noqa: S105 (a code, not a secret) 401: missing or unknown API key
INVALID_REQUEST = "invalid_request"  # 400: the request itself is malformed
INVALID_TASK_ID = "invalid_task_id"  # 400: the task id in the path has a bad format
INSUFFICIENT_QUOTA = "insufficient_quota"  # 402: the account balance is too low
KEY_QUOTA_EXHAUSTED = "key_quota_exhausted"  # 402: the API key's own spending limit is used up
IDEMPOTENCY_CONFLICT = "idempotency_conflict"  # 409: the key was used for a different request
PAID_OUTCOME_UNKNOWN = "paid_outcome_unknown"  # 409: the first request with this key is still running

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "request_too_large_error",
    429: "rate_limit_error",
    500: "internal_server_error",
    502: "upstream_error",
    503: "service_unavailable_error",
    504: "gateway_timeout_error",
}


def error_type(status: int) -> str:
    """The Evolink `error.type` for an HTTP status (falls back by class)."""
    return ERROR_TYPES.get(status, "internal_server_error" if status >= 500 else "invalid_request_error")


def error_body(
    status: int,
    message: str,
    param: str | None = None,
    *,
    code: str | int | None = None,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """`{"error": {code, message, type[, param], **extra}}`; `code` defaults to the HTTP status.

    `extra` lands flat inside `error`, as the gateway sends `fallback_suggestion` and the quota
    details (`estimated_credits`, `account_balance_credits`, ...).
    """
    error: dict[str, object] = {
        "code": status if code is None else code,
        "message": message,
        "type": error_type(status),
    }
    if param is not None:
        error["param"] = param
    if extra:
        error.update(extra)
    return {"error": error}


def json_error(
    status: int,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    *,
    code: str | int | None = None,
    extra: Mapping[str, object] | None = None,
) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(error_body(status, message, param, code=code, extra=extra)),
        content_type="application/json",
        headers=headers,
    )


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def html_error(status: int, headers: dict[str, str] | None = None) -> web.Response:
    """The bare nginx page a proxy returns when the backend is down."""
    title = f"{status} {reason(status)}"
    page = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    return web.Response(status=status, text=page, content_type="text/html", headers=headers)

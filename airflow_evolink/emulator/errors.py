"""Error responses in the shapes the real API (and the nginx in front of it) sends."""

from __future__ import annotations

import json
from http import HTTPStatus

from aiohttp import web

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


def error_body(status: int, message: str, param: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"code": status, "message": message, "type": error_type(status)}
    if param is not None:
        error["param"] = param
    return {"error": error}


def json_error(
    status: int, message: str, param: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps(error_body(status, message, param)),
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

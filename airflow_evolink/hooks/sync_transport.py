"""Send one :class:`ApiCall` with ``requests`` and map every network failure to an Evolink error.

The mapping records whether the request may have reached the server (``sent``), which decides whether a
paid POST may be sent again.
"""

from __future__ import annotations

from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from airflow_evolink.core.errors import EvolinkConnectionError, EvolinkResponseError
from airflow_evolink.core.protocol import MAX_RESPONSE_BYTES, ApiCall, interpret_response
from airflow_evolink.hooks.connection import EvolinkConnectionConfig

CHUNK_BYTES = 64 * 1024


def send_sync(session: requests.Session, config: EvolinkConnectionConfig, call: ApiCall) -> Any:
    """One attempt: send, read a size-limited body, and interpret it. Retries are the caller's job."""
    url = config.base_url + call.path
    try:
        response = session.request(
            call.method,
            url,
            data=call.body_bytes(),
            headers=call.headers(config.api_key),
            timeout=(config.connect_timeout, config.read_timeout),
            stream=True,
            allow_redirects=False,
        )
    except requests.exceptions.ConnectTimeout as exc:
        raise EvolinkConnectionError(
            f"could not connect to {config.base_url}: {_reason(exc)}", sent=False
        ) from None
    except requests.exceptions.ReadTimeout:
        raise EvolinkConnectionError(
            f"no answer from {config.base_url} within {config.read_timeout:g} s", sent=True
        ) from None
    except requests.exceptions.ConnectionError as exc:
        raise EvolinkConnectionError(
            f"connection to {config.base_url} failed: {_reason(exc)}", sent=not _failed_before_sending(exc)
        ) from None
    try:
        body = _read_limited(response)
    except requests.exceptions.RequestException as exc:
        raise EvolinkConnectionError(
            f"connection to {config.base_url} broke while reading the answer: {_reason(exc)}", sent=True
        ) from None
    finally:
        response.close()
    return interpret_response(response.status_code, response.headers, body)


def _read_limited(response: requests.Response) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise EvolinkResponseError(
            f"Evolink response body too large ({declared} bytes)", http_status=response.status_code
        )
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise EvolinkResponseError(
                f"Evolink response body larger than {MAX_RESPONSE_BYTES} bytes",
                http_status=response.status_code,
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _failed_before_sending(exc: BaseException) -> bool:
    """Walk the exception chain for a failure that happens before any byte of the request is written."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current, (NewConnectionError, ConnectTimeoutError, NameResolutionError, ConnectionRefusedError)
        ):
            return True
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException) and id(reason) not in seen:
            current = reason
            continue
        args = getattr(current, "args", ())
        nested = next((arg for arg in args if isinstance(arg, BaseException)), None)
        current = nested or current.__cause__ or current.__context__
    return False


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:297] + "..."

"""Send one :class:`ApiCall` with aiohttp, sharing one keep-alive session per event loop.

Triggers in a triggerer all run in one event loop. Opening a session (and a TCP/TLS connection) per
poll costs far more than the poll itself, so every Evolink trigger in the loop borrows the same
``aiohttp.ClientSession``; the API key travels per request, so connections with different keys can share it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from airflow_evolink.core.errors import EvolinkConnectionError, EvolinkResponseError
from airflow_evolink.core.protocol import MAX_RESPONSE_BYTES, ApiCall, interpret_response
from airflow_evolink.hooks.connection import EvolinkConnectionConfig

CHUNK_BYTES = 64 * 1024


class _SharedSession:
    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None
        self.users = 0


_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SharedSession] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def shared_session() -> AsyncIterator[aiohttp.ClientSession]:
    """Borrow the loop's shared session; it is closed when its last user returns it."""
    loop = asyncio.get_running_loop()
    slot = _SESSIONS.get(loop)
    if slot is None:
        slot = _SESSIONS[loop] = _SharedSession()
    if slot.session is None or slot.session.closed:
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, keepalive_timeout=30, enable_cleanup_closed=True
        )
        slot.session = aiohttp.ClientSession(connector=connector, raise_for_status=False, trust_env=True)
    session = slot.session
    slot.users += 1
    try:
        yield session
    finally:
        slot.users -= 1
        if slot.users == 0 and slot.session is session:
            slot.session = None
            await session.close()


async def send_async(session: aiohttp.ClientSession, config: EvolinkConnectionConfig, call: ApiCall) -> Any:
    """One attempt: send, read a size-limited body, interpret it. Retries are the caller's job."""
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=config.connect_timeout, sock_read=config.read_timeout
    )
    url = config.base_url + call.path
    try:
        async with session.request(
            call.method,
            url,
            data=call.body_bytes(),
            headers=call.headers(config.api_key),
            timeout=timeout,
            allow_redirects=False,
        ) as response:
            body = await _read_limited(response)
            status = response.status
            headers = response.headers
    except aiohttp.ConnectionTimeoutError:
        raise EvolinkConnectionError(
            f"could not connect to {config.base_url}: timed out", sent=False
        ) from None
    except aiohttp.ClientConnectorError as exc:
        raise EvolinkConnectionError(
            f"could not connect to {config.base_url}: {exc.os_error}", sent=False
        ) from None
    except (aiohttp.ServerTimeoutError, asyncio.TimeoutError):
        raise EvolinkConnectionError(
            f"no answer from {config.base_url} within {config.read_timeout:g} s", sent=True
        ) from None
    except aiohttp.ClientResponseError as exc:
        raise EvolinkConnectionError(f"bad answer from {config.base_url}: {exc.message}", sent=True) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise EvolinkConnectionError(
            f"connection to {config.base_url} failed: {type(exc).__name__}: {exc}", sent=True
        ) from None
    return interpret_response(status, headers, body)


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    if response.content_length is not None and response.content_length > MAX_RESPONSE_BYTES:
        raise EvolinkResponseError(
            f"Evolink response body too large ({response.content_length} bytes)", http_status=response.status
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await response.content.read(CHUNK_BYTES)
        if not chunk:
            break
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise EvolinkResponseError(
                f"Evolink response body larger than {MAX_RESPONSE_BYTES} bytes", http_status=response.status
            )
        chunks.append(chunk)
    return b"".join(chunks)

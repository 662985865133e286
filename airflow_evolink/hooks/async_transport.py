"""Send one :class:`ApiCall` with aiohttp, sharing one keep-alive session per event loop.

Triggers in a triggerer all run in one event loop. Opening a session (and a TCP/TLS connection) per
poll costs far more than the poll itself, so every Evolink trigger in the loop borrows the same
``aiohttp.ClientSession``; the API key travels per request, so connections with different keys can share it.

Per request, this module does as little as it can, because thousands of deferred sensors poll through it:

* The shared connector holds at most :data:`CONNECTIONS_PER_HOST` sockets per host. Polls are short and
  spread out (10,000 waits polling every 10 s is about 1,000 requests/s; at 250 ms a request, 256 busy
  sockets carry that), so a bounded keep-alive pool serves them all, and a poll that finds every socket
  busy waits for one instead of opening another: no file-descriptor limit is reached.
* The session does not use aiohttp's ``trust_env``, which looks up the proxy environment and ``~/.netrc``
  in a worker thread on *every* request (two thread hops per poll). The proxy that ``HTTP(S)_PROXY`` /
  ``NO_PROXY`` (and ``.netrc`` credentials for the proxy) give for a base URL is looked up once per
  shared session, in a thread, and then passed explicitly. ``.netrc`` credentials for the API host itself
  are not used: requests carry a Bearer key, and aiohttp refuses to combine the two anyway.
* A request's read timeout is a deadline for the whole answer (``total`` = connect + read seconds), not
  aiohttp's ``sock_read``: that one cancels and re-arms an event-loop timer on every chunk received, and
  with thousands of sleeping triggers in the loop's timer heap those re-arms were the largest cost of a
  poll beyond the bare HTTP exchange (measured in ``benchmarks/bench_trigger_cpu.py``). Answers are a few
  KiB, so the two limits agree in practice. Timeout objects are built once per (connect, read) pair.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import aiohttp
from multidict import CIMultiDict
from tenacity import AsyncRetrying, RetryCallState
from yarl import URL

from airflow_evolink.core.errors import EvolinkConnectionError, EvolinkResponseError
from airflow_evolink.core.protocol import MAX_RESPONSE_BYTES, ApiCall, interpret_response
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.hooks.connection import EvolinkConnectionConfig

CHUNK_BYTES = 64 * 1024
#: Keep-alive sockets the shared session opens per host, whatever the number of waiting triggers.
CONNECTIONS_PER_HOST = 256
#: Seconds an idle pooled socket is kept. Longer than typical poll spacing, so sockets are reused.
KEEPALIVE_SECONDS = 30.0

_Proxy = tuple[URL | None, aiohttp.BasicAuth | None]


# The shared session of each event loop, and how many users hold each session (counted per session, so a
# session that was closed and replaced, or returned in the wrong loop, never skews another's count).
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)
_USERS: weakref.WeakKeyDictionary[aiohttp.ClientSession, int] = weakref.WeakKeyDictionary()
# Proxy per base URL, for the sessions this module created (others keep their own trust_env rules).
_PROXIES: weakref.WeakKeyDictionary[aiohttp.ClientSession, dict[str, _Proxy | asyncio.Future[_Proxy]]] = (
    weakref.WeakKeyDictionary()
)


def _new_session() -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(
        limit=0,
        limit_per_host=CONNECTIONS_PER_HOST,
        keepalive_timeout=KEEPALIVE_SECONDS,
        enable_cleanup_closed=True,
    )
    session = aiohttp.ClientSession(connector=connector, raise_for_status=False, trust_env=False)
    _PROXIES[session] = {}
    return session


def borrow_session() -> aiohttp.ClientSession:
    """The running loop's shared session; give it back exactly once with :func:`return_session`.

    The two halves of :func:`shared_session`, for a caller that holds the session for hours (a trigger):
    a context manager object would stay alive with it, one more object per waiting trigger for the
    garbage collector to scan.
    """
    loop = asyncio.get_running_loop()
    session = _SESSIONS.get(loop)
    if session is None or session.closed:
        session = _SESSIONS[loop] = _new_session()
    _USERS[session] = _USERS.get(session, 0) + 1
    return session


async def return_session(session: aiohttp.ClientSession) -> None:
    """Give back a session from :func:`borrow_session`; the last user to return it closes it."""
    users = _USERS.get(session, 0) - 1
    if users < 0:
        return  # not borrowed here
    _USERS[session] = users
    if users == 0:
        loop = asyncio.get_running_loop()
        if _SESSIONS.get(loop) is session:
            del _SESSIONS[loop]
        await session.close()


@asynccontextmanager
async def shared_session() -> AsyncIterator[aiohttp.ClientSession]:
    """Borrow the loop's shared session; it is closed when its last user returns it."""
    session = borrow_session()
    try:
        yield session
    finally:
        await return_session(session)


def _env_proxy(base_url: str) -> _Proxy:
    """What aiohttp's ``trust_env`` would pick for ``base_url``: (proxy URL or None, proxy auth or None)."""
    from aiohttp.helpers import get_env_proxy_for_url

    try:
        return get_env_proxy_for_url(URL(base_url))
    except LookupError:
        return None, None


_NO_PROXY: _Proxy = (None, None)


async def _look_up_proxy(table: dict[str, _Proxy | asyncio.Future[_Proxy]], base_url: str) -> _Proxy:
    """Read the environment (and maybe ~/.netrc) off the event loop, once per session and base URL.

    Triggers that start while the look-up runs (a triggerer loading thousands at once) await the same
    one instead of queueing thousands of thread hops; a cancelled trigger does not cancel it for them.
    """
    pending = table.get(base_url)
    if not isinstance(pending, asyncio.Future):
        pending = asyncio.ensure_future(asyncio.to_thread(_env_proxy, base_url))
        table[base_url] = pending

        def settle(done: asyncio.Future[_Proxy]) -> None:
            if table.get(base_url) is done:
                if done.cancelled() or done.exception() is not None:
                    del table[base_url]  # the next prepare() looks it up again
                else:
                    table[base_url] = done.result()

        pending.add_done_callback(settle)
    return await asyncio.shield(pending)


@lru_cache(maxsize=64)
def _timeout(connect: float, read: float) -> aiohttp.ClientTimeout:
    # One timer per request. A time-out before the request went out (connecting, or waiting for a pooled
    # socket) surfaces as aiohttp.ConnectionTimeoutError: nothing was sent.
    return aiohttp.ClientTimeout(total=connect + read, sock_connect=connect)


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """Everything one request needs that does not change between polls: built once per wait.

    The URL is parsed and the headers are a multidict already, as aiohttp needs them: yarl caches only
    the last 128 URLs it parsed, so thousands of triggers polling distinct task URLs would otherwise
    pay a full parse (~5 us) on every poll. It holds the API key (in ``headers``), so it has no repr
    of its fields.
    """

    method: str
    url: URL
    base_url: str
    body: bytes | None = field(repr=False)
    headers: CIMultiDict[str] = field(repr=False)
    timeout: aiohttp.ClientTimeout = field(repr=False)
    proxy: URL | None = field(repr=False)
    proxy_auth: aiohttp.BasicAuth | None = field(repr=False)


async def prepare(
    session: aiohttp.ClientSession, config: EvolinkConnectionConfig, call: ApiCall
) -> PreparedCall:
    """Resolve URL, headers, timeout and proxy for ``call`` sent through ``session``."""
    try:
        url = URL(config.base_url + call.path)
    except ValueError as exc:  # what aiohttp reports as InvalidUrlClientError: nothing was sent
        raise EvolinkConnectionError(
            f"invalid URL {config.base_url + call.path!r}: {exc}", sent=False
        ) from None
    proxy, proxy_auth = _NO_PROXY
    table = _PROXIES.get(session)  # None for a caller's own session: aiohttp applies its trust_env
    if table is not None:
        known = table.get(config.base_url)
        if known is None or isinstance(known, asyncio.Future):
            known = await _look_up_proxy(table, config.base_url)
        proxy, proxy_auth = known
    return PreparedCall(
        method=call.method,
        url=url,
        base_url=config.base_url,
        body=call.body_bytes(),
        headers=CIMultiDict(call.headers(config.api_key)),
        timeout=_timeout(config.connect_timeout, config.read_timeout),
        proxy=proxy,
        proxy_auth=proxy_auth,
    )


async def send_async(session: aiohttp.ClientSession, config: EvolinkConnectionConfig, call: ApiCall) -> Any:
    """One attempt: send, read a size-limited body, interpret it. Retries are the caller's job."""
    return await send_prepared(session, await prepare(session, config, call))


async def send_prepared(session: aiohttp.ClientSession, prepared: PreparedCall) -> Any:
    """One attempt of a :class:`PreparedCall`; what :func:`send_async` does after preparing."""
    try:
        async with session.request(
            prepared.method,
            prepared.url,
            data=prepared.body,
            headers=prepared.headers,
            timeout=prepared.timeout,
            allow_redirects=False,
            proxy=prepared.proxy,
            proxy_auth=prepared.proxy_auth,
        ) as response:
            status = response.status
            headers = response.headers
            length = response.content_length
            if length is not None and length <= MAX_RESPONSE_BYTES and "Content-Encoding" not in headers:
                # The usual case: a small, uncompressed body of known length, read in one go (aiohttp's
                # parser stops at the length). Anything else is read in size-checked chunks.
                body = await response.read()
            else:
                body = await _read_limited(response)
    except aiohttp.ConnectionTimeoutError:
        raise EvolinkConnectionError(
            f"could not connect to {prepared.base_url}: timed out", sent=False
        ) from None
    except aiohttp.ClientConnectorError as exc:
        raise EvolinkConnectionError(
            f"could not connect to {prepared.base_url}: {exc.os_error}", sent=False
        ) from None
    except (aiohttp.ServerTimeoutError, asyncio.TimeoutError):
        raise EvolinkConnectionError(
            f"no answer from {prepared.base_url} within {prepared.timeout.total:g} s", sent=True
        ) from None
    except aiohttp.ClientResponseError as exc:
        raise EvolinkConnectionError(
            f"bad answer from {prepared.base_url}: {exc.message}", sent=True
        ) from None
    except (aiohttp.ClientError, OSError) as exc:
        raise EvolinkConnectionError(
            f"connection to {prepared.base_url} failed: {type(exc).__name__}: {exc}", sent=True
        ) from None
    return interpret_response(status, headers, body)


async def send_with_retries(
    session: aiohttp.ClientSession,
    config: EvolinkConnectionConfig,
    call: ApiCall,
    policy: RetryPolicy,
    logger: Any = None,
    prepared: PreparedCall | None = None,
) -> Any:
    """Send ``call`` under ``policy``, as ``tenacity.AsyncRetrying(**policy.tenacity_kwargs(call))`` does.

    The first attempt goes out directly: most calls succeed at once, and building the tenacity machinery
    costs more CPU than a poll. Only when it fails, and the policy retries that failure, does tenacity
    take over, with the failure replayed as its first attempt, so attempts, waits, ``Retry-After``,
    logging and the elapsed-time limit (counted from the first attempt) are exactly the policy's.
    A caller that sends the same call many times (a trigger's polls) passes it ``prepared`` once.
    """
    started = time.monotonic()
    try:
        if prepared is None:
            return await send_async(session, config, call)
        return await send_prepared(session, prepared)
    except Exception as exc:
        if not policy.should_retry(call, exc):
            raise
        first_failure = exc
    return await _retry(first_failure, started, session, config, call, policy, logger)


async def _retry(
    first_failure: Exception,
    started: float,
    session: aiohttp.ClientSession,
    config: EvolinkConnectionConfig,
    call: ApiCall,
    policy: RetryPolicy,
    logger: Any,
) -> Any:
    # Kept apart from send_with_retries: its closures would cost allocations on every successful call.
    replayed = False

    async def attempt() -> Any:
        nonlocal replayed
        if not replayed:
            replayed = True
            raise first_failure
        return await send_async(session, config, call)

    def count_from_the_first_attempt(state: RetryCallState) -> None:
        if state.attempt_number == 1:
            state.start_time = started

    retrying = AsyncRetrying(before=count_from_the_first_attempt, **policy.tenacity_kwargs(call, logger))
    return await retrying(attempt)


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    length = response.content_length
    if length is not None and length > MAX_RESPONSE_BYTES:
        raise EvolinkResponseError(
            f"Evolink response body too large ({length} bytes)", http_status=response.status
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

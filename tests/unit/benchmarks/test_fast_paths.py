"""The fast paths added for thousands of deferred sensors keep the behaviour of the slow ones.

* ``parse_state`` reads what ``parse_task`` reads, and fails exactly when it fails;
* ``send_with_retries`` sends once and builds tenacity only after a retryable failure, with the same
  attempts, errors and elapsed-time limit as ``AsyncRetrying(**policy.tenacity_kwargs(call))``;
* the shared session resolves the proxy environment once, as ``trust_env`` did per request;
* a compressed body is still cut at the size limit;
* the trigger's connection cache looks a connection up once per loop, and re-reads it on 401;
* progress lines are written on status changes and then at most once a minute.

No assertion here depends on how fast anything runs.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import threading
import time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from tenacity import AsyncRetrying

from airflow_evolink.core.errors import (
    EvolinkConnectionError,
    EvolinkError,
    EvolinkResponseError,
)
from airflow_evolink.core.models import build_video_request
from airflow_evolink.core.protocol import error_from_response, get_task_call, submit_call
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.core.task import TaskState, parse_state, parse_task
from airflow_evolink.hooks import async_transport
from airflow_evolink.hooks.connection import EvolinkConnectionConfig
from airflow_evolink.triggers import evolink as trigger_module
from airflow_evolink.triggers.evolink import EvolinkVideoTrigger, _ProgressLog
from tests.conftest import TEST_API_KEY, connection_json

TASK_ID = "task-unified-1757169743-7cvnl5zw"
GET = get_task_call(TASK_ID)
POST = submit_call(
    build_video_request({"model": "kling-v3-text-to-video", "prompt": "x"}), "idem-0001-0001-0001"
)
NO_WAIT = RetryPolicy(max_attempts=4, initial_wait=0.0, max_wait=0.0, jitter=0.0)


# ---- parse_state agrees with parse_task ----------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
task_like = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.just(TASK_ID), json_values),
        "task_id": st.one_of(st.just(TASK_ID), json_values),
        "status": st.one_of(
            st.sampled_from(["pending", "processing", "completed", "failed", "weird"]), json_values
        ),
        "progress": json_values,
        "created": json_values,
        "task_info": st.one_of(
            st.fixed_dictionaries({}, optional={"estimated_time": json_values}), json_values
        ),
        "data": json_values,
    },
)


def _outcome(parse: Any, data: Any) -> Any:
    try:
        return parse(data)
    except EvolinkResponseError as exc:
        return ("error", str(exc))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


@settings(max_examples=400, deadline=None)
@given(data=st.one_of(task_like, st.fixed_dictionaries({"data": task_like}), json_values))
def test_parse_state_reads_what_parse_task_reads(data):
    state, task = _outcome(parse_state, data), _outcome(parse_task, data)
    if isinstance(task, tuple):
        assert state == task  # the same error, with the same message
        return
    assert isinstance(state, TaskState)
    for field in ("id", "raw_status", "status", "progress", "created", "estimated_time"):
        assert _same(getattr(state, field), getattr(task, field)), field
    assert state.is_terminal is task.is_terminal


# Bodies shaped like the API's usual answer, so the fast path of parse_state is the one exercised.
usual_answer = st.fixed_dictionaries(
    {
        "id": st.one_of(st.just(TASK_ID), st.text(max_size=3)),
        "status": st.sampled_from(["pending", "processing", "completed", "failed", "queued", "Running", "x"]),
        "progress": st.one_of(st.integers(-5, 105), st.booleans(), st.floats(0, 100)),
    },
    optional={
        "created": st.one_of(st.none(), st.integers(-(2**54), 2**54), st.booleans(), st.floats()),
        "task_info": st.one_of(
            st.fixed_dictionaries({}, optional={"estimated_time": json_values}), st.lists(st.integers())
        ),
    },
)


@settings(max_examples=400, deadline=None)
@given(data=usual_answer)
def test_parse_state_fast_path_reads_what_parse_task_reads(data):
    test_parse_state_reads_what_parse_task_reads.hypothesis.inner_test(data)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(42, 42), (0, 0), (100, 100), (-3, 0), (250, 100), (2**1100, 0), (42.9, 42), ("17", 17), (True, 0)],
)
def test_progress_fast_path_matches_the_general_rule(value, expected):
    assert parse_state({"id": TASK_ID, "progress": value}).progress == expected
    assert parse_task({"id": TASK_ID, "progress": value}).progress == expected


@pytest.mark.parametrize("value", [1757169743, 2**53, 2**53 + 1, -(2**53) - 1, 2**64, 1757169743.7, "12"])
def test_created_fast_path_matches_int_of_float(value):
    expected = int(float(value))
    assert parse_task({"id": TASK_ID, "created": value}).created == expected
    assert parse_state({"id": TASK_ID, "created": value}).created == expected


# ---- send_with_retries: one attempt first, tenacity only after a retryable failure -------------------


class Script:
    """Stands in for send_async: raises the given errors in order, then answers."""

    def __init__(self, errors: list[BaseException], first_takes: float = 0.0) -> None:
        self.errors = list(errors)
        self.calls = 0
        self.first_takes = first_takes

    async def __call__(self, session: Any, config: Any, call: Any) -> Any:
        self.calls += 1
        if self.calls == 1 and self.first_takes:
            await asyncio.sleep(self.first_takes)
        if self.errors:
            raise self.errors.pop(0)
        return {"id": TASK_ID, "status": "processing"}


def http(status: int, retry_after: str | None = None) -> EvolinkError:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return error_from_response(status, headers, b'{"error": {"message": "x"}}')


CONFIG = EvolinkConnectionConfig("c", "http://127.0.0.1:9", "sk-x")


async def _fast(script: Script, call: Any, policy: RetryPolicy, logger: Any = None) -> Any:
    try:
        return await async_transport.send_with_retries(None, CONFIG, call, policy, logger)  # type: ignore[arg-type]
    except BaseException as exc:  # the test compares what escaped
        return exc


async def _tenacity(script: Script, call: Any, policy: RetryPolicy) -> Any:
    try:
        return await AsyncRetrying(**policy.tenacity_kwargs(call))(script, None, CONFIG, call)
    except BaseException as exc:
        return exc


SEQUENCES = [
    [],
    [http(503)],
    [http(503), http(502), EvolinkConnectionError("x", sent=True)],
    [http(500)] * 10,
    [http(404)],
    [http(401)],
    [http(429, "0"), http(503)],
    [ValueError("not ours")],
    [EvolinkResponseError("truncated", http_status=200), http(400)],
]


@pytest.mark.parametrize("errors", SEQUENCES, ids=lambda e: ",".join(type(x).__name__ for x in e) or "ok")
@pytest.mark.parametrize("call", [GET, POST], ids=["GET", "paid POST"])
async def test_same_attempts_and_outcome_as_tenacity(monkeypatch, errors, call):
    fast_script, slow_script = Script(errors), Script(errors)
    monkeypatch.setattr(async_transport, "send_async", fast_script)
    fast = await _fast(fast_script, call, NO_WAIT)
    slow = await _tenacity(slow_script, call, NO_WAIT)
    assert fast_script.calls == slow_script.calls
    assert type(fast) is type(slow)
    if isinstance(slow, BaseException):
        assert str(fast) == str(slow)


async def test_success_builds_no_tenacity(monkeypatch):
    monkeypatch.setattr(async_transport, "send_async", Script([]))

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("tenacity was built for a call that succeeded at once")

    monkeypatch.setattr(async_transport, "AsyncRetrying", refuse)
    assert (await _fast(Script([]), GET, NO_WAIT))["id"] == TASK_ID


async def test_retries_are_logged_as_the_policy_logs_them(monkeypatch):
    monkeypatch.setattr(async_transport, "send_async", Script([http(503), http(503)]))
    lines: list[str] = []

    class Log:
        def warning(self, message: str, *args: Any) -> None:
            lines.append(message % args)

    assert (await _fast(Script([]), GET, NO_WAIT, Log()))["id"] == TASK_ID
    assert len(lines) == 2
    assert lines[0].startswith(f"Evolink GET {GET.path} failed") and "on attempt 1;" in lines[0]
    assert "gives up after 4 failures other than 429" in lines[0]


async def test_elapsed_limit_counts_the_first_attempt(monkeypatch):
    # The first attempt alone outlasts max_elapsed, so no retry may follow it.
    script = Script([http(503), http(503)], first_takes=0.3)
    monkeypatch.setattr(async_transport, "send_async", script)
    policy = RetryPolicy(max_attempts=5, initial_wait=0.0, max_wait=0.0, jitter=0.0, max_elapsed=0.2)
    result = await _fast(script, GET, policy)
    assert isinstance(result, EvolinkError) and result.http_status == 503  # type: ignore[attr-defined]
    assert script.calls == 1


# ---- the shared session and the proxy environment ------------------------------------------------------


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = next(a[1] for a in runner.addresses if isinstance(a, tuple))
    return runner, f"http://127.0.0.1:{port}"


async def test_proxy_from_the_environment_is_used_and_looked_up_once(monkeypatch):
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(str(request.url))  # absolute-form target: the request really went through the proxy
        return web.json_response({"id": TASK_ID, "status": "processing", "progress": 7})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy)
    runner, proxy_url = await _serve(app)
    lookups: list[str] = []
    real = async_transport._env_proxy

    def counting(base_url: str) -> Any:
        lookups.append(base_url)
        return real(base_url)

    monkeypatch.setattr(async_transport, "_env_proxy", counting)
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("http_proxy", proxy_url)
    config = EvolinkConnectionConfig("c", "http://evolink.invalid", "sk-x")
    try:
        async with async_transport.shared_session() as session:
            for _ in range(3):
                answer = await async_transport.send_async(session, config, GET)
                assert answer["progress"] == 7
    finally:
        await runner.cleanup()
    assert len(seen) == 3 and seen[0].startswith("http://evolink.invalid/v1/tasks/")
    assert lookups == ["http://evolink.invalid"]


async def test_triggers_starting_together_share_one_proxy_look_up(monkeypatch):
    lookups: list[str] = []
    release = threading.Event()

    def slow(base_url: str) -> Any:
        lookups.append(base_url)
        release.wait(5)
        return (None, None)

    monkeypatch.setattr(async_transport, "_env_proxy", slow)
    config = EvolinkConnectionConfig("c", "http://evolink.invalid", "sk-x")
    async with async_transport.shared_session() as session:
        first = asyncio.ensure_future(async_transport.prepare(session, config, GET))
        await asyncio.sleep(0.05)  # the look-up is now running in a thread
        others = [asyncio.ensure_future(async_transport.prepare(session, config, GET)) for _ in range(50)]
        await asyncio.sleep(0.05)
        first.cancel()  # the trigger that started it goes away; the others still get the answer
        release.set()
        prepared = await asyncio.gather(*others)
        again = await async_transport.prepare(session, config, GET)
    assert lookups == ["http://evolink.invalid"]
    assert all(p.proxy is None for p in prepared) and again.proxy is None


async def test_the_shared_session_closes_when_its_last_borrower_returns_it():
    first = async_transport.borrow_session()
    second = async_transport.borrow_session()
    assert first is second
    await async_transport.return_session(first)
    assert not first.closed
    await async_transport.return_session(second)
    assert first.closed
    await async_transport.return_session(first)  # one return too many changes nothing
    fresh = async_transport.borrow_session()
    assert fresh is not first and not fresh.closed
    await async_transport.return_session(fresh)
    assert fresh.closed


async def test_an_unparseable_url_is_a_connection_error_before_sending():
    config = EvolinkConnectionConfig("c", "http://[not-an-ip", "sk-x")
    async with async_transport.shared_session() as session:
        with pytest.raises(EvolinkConnectionError, match="invalid URL") as caught:
            await async_transport.prepare(session, config, GET)
    assert caught.value.sent is False and "sk-x" not in str(caught.value)


def test_no_proxy_bypasses_the_proxy(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("http_proxy", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    assert async_transport._env_proxy("http://127.0.0.1:8099") == (None, None)
    proxy, _ = async_transport._env_proxy("http://api.example")
    assert str(proxy) == "http://proxy.example:3128"


async def test_a_compressed_body_is_still_cut_at_the_limit(monkeypatch):
    bomb = gzip.compress(b"[" * (3 * 1024 * 1024))

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner, url = await _serve(app)
    config = EvolinkConnectionConfig("c", url, "sk-x")
    try:
        async with async_transport.shared_session() as session:
            with pytest.raises(EvolinkResponseError, match="larger than"):
                await async_transport.send_async(session, config, GET)
    finally:
        await runner.cleanup()


async def test_the_shared_connector_bounds_sockets_per_host():
    async with async_transport.shared_session() as session:
        connector = session.connector
        assert isinstance(connector, aiohttp.TCPConnector)
        assert connector.limit_per_host == async_transport.CONNECTIONS_PER_HOST
        assert session.trust_env is False


# ---- the trigger's connection cache --------------------------------------------------------------------


@pytest.fixture
def lookups(monkeypatch):
    calls: list[str] = []

    async def fake(self: Any) -> EvolinkConnectionConfig:
        calls.append(self.evolink_conn_id)
        await asyncio.sleep(0.01)
        if self.evolink_conn_id == "broken":
            raise RuntimeError("no such connection")
        return EvolinkConnectionConfig(self.evolink_conn_id, "http://127.0.0.1:9", f"sk-{len(calls)}")

    monkeypatch.setattr(trigger_module.EvolinkHook, "aconnection_config", fake)
    return calls


async def test_many_triggers_look_a_connection_up_once(lookups):
    results = await asyncio.gather(*(trigger_module._connection_config("c") for _ in range(50)))
    assert lookups == ["c"]
    assert {config for config, _ in results} == {results[0][0]}
    config, cached = await trigger_module._connection_config("c")
    assert cached is True and config == results[0][0]


async def test_the_cache_expires_and_can_be_refreshed(lookups, monkeypatch):
    first, _ = await trigger_module._connection_config("c")
    refreshed, cached = await trigger_module._connection_config("c", refresh=True)
    assert cached is False and refreshed != first and len(lookups) == 2
    monkeypatch.setattr(trigger_module, "CONNECTION_CACHE_SECONDS", 0.0)
    await trigger_module._connection_config("c", refresh=True)  # stored with no time to live
    _, cached = await trigger_module._connection_config("c")
    assert cached is False and len(lookups) == 4


async def test_a_failed_look_up_reaches_every_waiter_and_is_not_cached(lookups):
    results = await asyncio.gather(
        *(trigger_module._connection_config("broken") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert lookups == ["broken"]
    with pytest.raises(RuntimeError):
        await trigger_module._connection_config("broken")
    assert lookups == ["broken", "broken"]


async def test_a_cancelled_look_up_leaves_the_others_to_look_it_up(lookups):
    first = asyncio.ensure_future(trigger_module._connection_config("c"))
    await asyncio.sleep(0)
    second = asyncio.ensure_future(trigger_module._connection_config("c"))
    await asyncio.sleep(0)
    first.cancel()
    config, _ = await second
    assert config.conn_id == "c"
    assert lookups == ["c", "c"]


async def test_a_rotated_key_is_picked_up_despite_the_cache(clean_emulator, monkeypatch):
    from airflow_evolink.hooks.evolink import EvolinkHook

    clean_emulator.faults.next_jobs_seconds(0.3)
    task_id = (
        EvolinkHook("evolink_default")
        .submit_video({"model": "kling-v3-text-to-video", "prompt": "a test"})
        .id
    )
    monkeypatch.setenv("AIRFLOW_CONN_EVOLINK_ROTATED", connection_json(clean_emulator.base_url, "sk-old"))
    retry = {"max_attempts": 2, "initial_wait": 0.01, "max_wait": 0.02, "jitter": 0}
    stale = [e async for e in EvolinkVideoTrigger(task_id, "evolink_rotated", 0.1, retry_policy=retry).run()]
    assert stale[0].payload["status"] == "error" and stale[0].payload["http_status"] == 401
    # The key is rotated while the old one is still cached for this event loop.
    monkeypatch.setenv("AIRFLOW_CONN_EVOLINK_ROTATED", connection_json(clean_emulator.base_url, TEST_API_KEY))
    events = [e async for e in EvolinkVideoTrigger(task_id, "evolink_rotated", 0.1, retry_policy=retry).run()]
    assert len(events) == 1 and events[0].payload["status"] == "success", events[0].payload
    assert json.loads(json.dumps(events[0].payload)) == events[0].payload


# ---- progress lines ------------------------------------------------------------------------------------


def test_progress_is_logged_on_status_changes_and_then_once_a_minute():
    lines: list[str] = []

    class Log:
        def info(self, message: str, *args: Any) -> None:
            lines.append(message % args)

    log = _ProgressLog(Log())
    t0 = time.time()

    def seen(status: str, progress: int, at: float) -> None:
        log.seen(TaskState(TASK_ID, status, TaskStatus.parse(status), progress, None, None), t0 + at)

    seen("pending", 0, 0)
    seen("pending", 0, 1)  # nothing new
    seen("processing", 3, 2)  # status change: logged at once
    seen("processing", 9, 10)  # progress, but within the minute
    seen("processing", 9, 70)  # a minute on: logged
    seen("processing", 9, 200)  # no change: not logged
    seen("processing", 60, 200)  # changed, and a minute since the last line
    assert lines == [
        f"Evolink task {TASK_ID} is pending: 0%",
        f"Evolink task {TASK_ID} is processing: 3%",
        f"Evolink task {TASK_ID} is processing: 9%",
        f"Evolink task {TASK_ID} is processing: 60%",
    ]

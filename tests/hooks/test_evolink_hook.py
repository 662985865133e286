"""The hook against the real emulator on 127.0.0.1: connections, each error class, and the POST policy."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
import time
from urllib.parse import quote

import pytest

from airflow_evolink.core.errors import (
    EvolinkAuthError,
    EvolinkBadRequestError,
    EvolinkConnectionError,
    EvolinkIdempotencyConflictError,
    EvolinkInsufficientCreditsError,
    EvolinkNotFoundError,
    EvolinkOutcomeUnknownError,
    EvolinkRateLimitError,
    EvolinkServerError,
    EvolinkValidationError,
)
from airflow_evolink.core.models import PassThroughVideoRequest
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.hooks.evolink import EvolinkHook
from tests.conftest import TEST_API_KEY, connection_json

FAST = RetryPolicy(max_attempts=4, initial_wait=0.01, max_wait=0.02, max_retry_after=0.05, jitter=0.0)
KLING = {
    "model": "kling-v3-image-to-video",
    "prompt": "a test",
    "image_start": "https://example.com/a.png",
    "duration": 5,
}


def make_hook(conn_id: str = "evolink_default", **kwargs: object) -> EvolinkHook:
    return EvolinkHook(
        conn_id, retry_policy=kwargs.pop("retry_policy", FAST), sleep=lambda _s: None, **kwargs
    )


def wait_until(condition, limit: float = 5.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def posts(emulator) -> int:
    return sum(1 for r in emulator.state.requests() if r["method"] == "POST")


def gets(emulator) -> int:
    return sum(1 for r in emulator.state.requests() if r["method"] == "GET")


@pytest.fixture
def conn_env(monkeypatch):
    def set_conn(conn_id: str, value: str) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)

    return set_conn


# ---- connections ---------------------------------------------------------------------------------------


def test_json_connection_with_full_base_url(clean_emulator, conn_env):
    conn_env("evolink_json", connection_json(clean_emulator.base_url))
    hook = make_hook("evolink_json")
    assert hook.connection_config.base_url == clean_emulator.base_url
    assert hook.get_credits().remaining_credits is not None


def test_uri_connection_with_encoded_url_host(clean_emulator, conn_env):
    conn_env("evolink_uri", f"evolink://:{TEST_API_KEY}@{quote(clean_emulator.base_url, safe='')}")
    hook = make_hook("evolink_uri")
    assert hook.connection_config.base_url == clean_emulator.base_url
    assert hook.get_credits().remaining_credits is not None


def test_uri_connection_with_bare_host_port_and_schema(clean_emulator, conn_env):
    port = clean_emulator.base_url.rsplit(":", 1)[1]
    conn_env("evolink_bare", f"evolink://:{TEST_API_KEY}@127.0.0.1:{port}/http")
    hook = make_hook("evolink_bare")
    assert hook.connection_config.base_url == f"http://127.0.0.1:{port}"
    assert hook.get_credits().remaining_credits is not None


def test_bare_host_defaults_to_https_and_empty_host_to_the_public_api(conn_env):
    conn_env("evolink_host", '{"conn_type": "evolink", "host": "api.evolink.ai", "password": "sk-x"}')
    conn_env("evolink_nohost", '{"conn_type": "evolink", "password": "sk-x"}')
    assert make_hook("evolink_host").connection_config.base_url == "https://api.evolink.ai"
    assert make_hook("evolink_nohost").connection_config.base_url == "https://api.evolink.ai"


def test_missing_api_key_fails_before_any_request(clean_emulator, conn_env):
    conn_env("evolink_nokey", f'{{"conn_type": "evolink", "host": "{clean_emulator.base_url}"}}')
    with pytest.raises(EvolinkAuthError, match="password"):
        make_hook("evolink_nokey").submit_video(KLING)
    assert clean_emulator.state.requests() == []


def test_ui_form_shows_only_what_matters():
    behaviour = EvolinkHook.get_ui_field_behaviour()
    assert set(behaviour["hidden_fields"]) == {"schema", "port", "login"}
    assert behaviour["relabeling"]["password"] == "API Key"
    assert behaviour["placeholders"]["host"] == "https://api.evolink.ai"


def test_test_connection_checks_the_key_without_spending(clean_emulator, conn_env):
    ok, message = make_hook().test_connection()
    assert ok, message
    assert "account balance" in message and "key limit" in message
    conn_env("evolink_badkey", connection_json(clean_emulator.base_url, api_key="sk-wrong"))
    ok, message = make_hook("evolink_badkey").test_connection()
    assert not ok and "401" in message
    assert clean_emulator.state.stats()["tasks_created"] == 0
    assert {r["path"] for r in clean_emulator.state.requests()} == {"/v1/credits"}


def test_test_connection_makes_one_attempt(clean_emulator):
    # The Test button waits on this call: a 503 is reported at once, not after the read retries.
    clean_emulator.faults.http_status(503, method="GET", count=10)
    ok, message = make_hook().test_connection()
    assert not ok and "503" in message
    assert [r["path"] for r in clean_emulator.state.requests()] == ["/v1/credits"]


def test_test_connection_tries_an_unreachable_host_once(conn_env):
    accepted = []
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]

        def accept_and_drop() -> None:
            server.settimeout(5)
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = server.accept()
                    accepted.append(conn)
                    conn.close()

        thread = threading.Thread(target=accept_and_drop, daemon=True)
        thread.start()
        conn_env("evolink_dropper", connection_json(f"http://127.0.0.1:{port}"))
        ok, message = make_hook("evolink_dropper").test_connection()
    thread.join(10)
    assert not ok and ("could not be reached" in message or "did not accept" in message)
    assert f"127.0.0.1:{port}" in message
    assert len(accepted) == 1


def test_test_connection_without_key_speaks_of_the_form_not_a_temporary_id(clean_emulator, conn_env):
    # Airflow tests a copy of the connection under a random id the user never sees.
    conn_env("q8zr1xy0", f'{{"conn_type": "evolink", "host": "{clean_emulator.base_url}"}}')
    ok, message = make_hook("q8zr1xy0").test_connection()
    assert not ok
    assert "API Key" in message and "q8zr1xy0" not in message
    assert clean_emulator.state.requests() == []


def test_test_connection_formats_large_balances_for_people(clean_emulator):
    clean_emulator.state.set_credits(user=999_999_000_000.0, token=999_999_000_000.0, unlimited=False)
    ok, message = make_hook().test_connection()
    assert ok, message
    assert "e+" not in message and "999,999,000,000 credits" in message


def test_api_key_never_in_repr_or_errors(clean_emulator, conn_env):
    conn_env("evolink_badkey", connection_json(clean_emulator.base_url, api_key="sk-wrong-secret-123"))
    hook = make_hook("evolink_badkey")
    with pytest.raises(EvolinkAuthError) as info:
        hook.get_task("task-unified-1757169743-7cvnl5zw")
    assert "sk-wrong-secret-123" not in str(info.value)
    assert "sk-wrong-secret-123" not in repr(hook)
    assert "sk-wrong-secret-123" not in repr(hook.connection_config)


# ---- the happy path ------------------------------------------------------------------------------------


def test_submit_get_and_wait(clean_emulator):
    hook = make_hook()
    task = hook.submit_video(KLING, idempotency_key="key-happy-000000000")
    assert task.id.startswith("task-unified-")
    assert task.status is TaskStatus.PENDING
    assert task.credits_reserved and task.credits_reserved > 0
    assert task.estimated_time and task.estimated_time > 0
    seen: list[int] = []
    done = EvolinkHook("evolink_default").wait_for_task(
        task.id, timeout=30, on_poll=lambda t: seen.append(t.progress)
    )
    assert done.status is TaskStatus.COMPLETED
    assert done.results and done.results[0].startswith(clean_emulator.base_url)
    assert seen[-1] == 100
    post = [r for r in clean_emulator.state.requests() if r["method"] == "POST"]
    assert post[0]["idempotency_key"] == "key-happy-000000000"


def test_validation_error_sends_nothing(clean_emulator):
    with pytest.raises(EvolinkValidationError, match="duration"):
        make_hook().submit_video({**KLING, "duration": 99})
    assert clean_emulator.state.requests() == []


# ---- HTTP error classes --------------------------------------------------------------------------------


def test_unknown_task_is_not_found(clean_emulator):
    with pytest.raises(EvolinkNotFoundError) as info:
        make_hook().get_task("task-unified-1757169743-zzzzzzzz")
    assert info.value.http_status == 404 and info.value.error_type == "not_found_error"
    assert gets(clean_emulator) == 1


def test_server_side_validation_is_a_bad_request(clean_emulator):
    # Bypass the client's rules to check how a 400 from the server is reported.
    request = PassThroughVideoRequest(model="kling-v3-image-to-video", prompt="no first frame")
    with pytest.raises(EvolinkBadRequestError) as info:
        make_hook().submit_video(request)
    assert info.value.http_status == 400 and info.value.param == "image_start"
    assert posts(clean_emulator) == 1


def test_request_too_large(clean_emulator):
    request = PassThroughVideoRequest(model="some-future-model", prompt="x" * (2 * 1024 * 1024))
    with pytest.raises(EvolinkBadRequestError) as info:
        make_hook().submit_video(request)
    assert info.value.http_status == 413


def test_insufficient_credits(clean_emulator):
    clean_emulator.state.set_credits(0)
    with pytest.raises(EvolinkInsufficientCreditsError) as info:
        make_hook().submit_video(KLING)
    assert info.value.http_status == 402 and not info.value.retryable
    assert clean_emulator.state.stats()["tasks_created"] == 0


def test_rate_limit_is_retried_honouring_retry_after(clean_emulator):
    clean_emulator.faults.http_status(429, method="GET", retry_after=1, count=2)
    waits: list[float] = []
    hook = EvolinkHook(
        retry_policy=RetryPolicy(max_attempts=4, max_retry_after=5, jitter=0), sleep=waits.append
    )
    assert hook.get_credits().remaining_credits is not None
    assert gets(clean_emulator) == 3
    assert len(waits) == 2 and all(1.0 <= w <= 1.1 for w in waits)


def test_rate_limits_do_not_use_up_the_attempts(clean_emulator):
    # Ten 429s are more failures than max_attempts allows; a rate limit means "later", so the call waits.
    clean_emulator.faults.http_status(429, method="GET", count=10)
    assert make_hook().get_credits().remaining_credits is not None
    assert gets(clean_emulator) == 11 > FAST.max_attempts


def test_rate_limit_storm_gives_up_at_max_elapsed_with_a_rate_limit_error(clean_emulator):
    clean_emulator.faults.http_status(429, method="GET", retry_after=0, count=100_000)
    policy = RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.01, jitter=0.0, max_elapsed=0.5)
    hook = EvolinkHook(retry_policy=policy, sleep=time.sleep)
    with pytest.raises(EvolinkRateLimitError):
        hook.get_credits()
    assert gets(clean_emulator) > policy.max_attempts


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_html_5xx_on_get_is_retried(clean_emulator, status):
    clean_emulator.faults.http_status(status, method="GET", body="html", count=2)
    assert make_hook().get_credits().remaining_credits is not None
    assert gets(clean_emulator) == 3


def test_html_5xx_message_is_readable_when_retries_run_out(clean_emulator):
    clean_emulator.faults.http_status(502, method="GET", body="html", count=10)
    with pytest.raises(EvolinkServerError) as info:
        make_hook().get_credits()
    assert "HTTP 502" in str(info.value) and "<html" not in str(info.value).lower()[:20]


@pytest.mark.parametrize("fault", ["truncated", "non_json"])
def test_broken_bodies_on_get_are_retried(clean_emulator, fault):
    getattr(clean_emulator.faults, fault)(method="GET")
    assert make_hook().get_credits().remaining_credits is not None
    assert gets(clean_emulator) == 2


def test_slow_get_times_out_and_is_retried(clean_emulator):
    clean_emulator.faults.delay(2.0, method="GET")
    hook = make_hook(timeout=(1.0, 0.5))
    assert hook.get_credits().remaining_credits is not None
    # The slow answer is logged by the emulator only once its delay has passed.
    wait_until(lambda: gets(clean_emulator) == 2)


def test_connection_reset_on_get_is_retried(clean_emulator):
    clean_emulator.faults.reset_connection(method="GET")
    assert make_hook().get_credits().remaining_credits is not None
    assert gets(clean_emulator) == 2


# ---- the paid POST policy ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_post_is_resent_when_provably_not_processed(clean_emulator, status):
    clean_emulator.faults.http_status(status, method="POST", retry_after=1)
    task = make_hook().submit_video(KLING)
    assert posts(clean_emulator) == 2
    assert clean_emulator.state.stats()["tasks_created"] == 1
    assert task.id


def assert_one_job_answered_from_the_ledger(emulator, task, sends: int = 2) -> None:
    """The first send created the job, the last was answered from the ledger; one job exists."""
    # A delayed first send is logged when its (late) answer goes out, after the replay.
    wait_until(lambda: sum(r["method"] == "POST" for r in emulator.state.requests()) == sends)
    records = [r for r in emulator.state.requests() if r["method"] == "POST"]
    assert len({r["idempotency_key"] for r in records}) == 1
    assert [t["id"] for t in emulator.state.tasks()] == [task.id]
    assert [r["task_created"] for r in records].count(True) == 1
    assert any(r["replay"] and r["status"] == 200 for r in records)
    assert task.idempotency_replayed is True


@pytest.mark.parametrize("status", [500, 502, 504])
def test_post_whose_answer_was_a_5xx_is_resent_with_the_same_key(clean_emulator, status):
    clean_emulator.faults.http_status(status, method="POST", body="html", after_processing=True)
    task = make_hook().submit_video(KLING, idempotency_key="key-5xx-0000000000")
    assert_one_job_answered_from_the_ledger(clean_emulator, task)
    assert task.status is TaskStatus.PENDING and task.credits_reserved


@pytest.mark.parametrize(
    ("fault", "kwargs"),
    [
        ("reset_connection", {"after_processing": True}),
        ("truncated", {}),
        ("non_json", {"after_processing": True}),
        ("delay", {"seconds": 2.0, "after_processing": True}),
    ],
)
def test_post_whose_answer_was_lost_is_resent_with_the_same_key(clean_emulator, fault, kwargs):
    if fault == "delay":
        clean_emulator.faults.delay(kwargs.pop("seconds"), method="POST", **kwargs)
    else:
        getattr(clean_emulator.faults, fault)(method="POST", **kwargs)
    hook = make_hook(timeout=(1.0, 0.5))
    task = hook.submit_video(KLING)
    assert_one_job_answered_from_the_ledger(clean_emulator, task)


def test_post_resends_are_bounded_and_then_name_the_key(clean_emulator):
    clean_emulator.faults.http_status(502, method="POST", after_processing=True, count=20)
    with pytest.raises(EvolinkOutcomeUnknownError) as info:
        make_hook().submit_video(KLING, idempotency_key="key-lost-000000000")
    assert posts(clean_emulator) == FAST.paid_max_attempts
    assert len(clean_emulator.state.tasks()) == 1
    assert "key-lost-000000000" in str(info.value)
    # Retryable: Airflow's next try of the task instance presents the same key.
    assert info.value.retryable and info.value.idempotency_key == "key-lost-000000000"


def test_a_key_still_in_flight_is_sent_again_later_with_the_same_key(clean_emulator):
    # The first send waits 1 s before the job is made; the client gives up on it after 0.5 s. The gateway
    # answers the next send with paid_outcome_unknown (Retry-After 1), and a later one with the job.
    clean_emulator.faults.delay(1.0, method="POST")
    policy = RetryPolicy(initial_wait=0.1, max_wait=0.2, max_retry_after=2.0, jitter=0.0, paid_max_attempts=6)
    hook = EvolinkHook("evolink_default", timeout=(1.0, 0.5), retry_policy=policy)
    task = hook.submit_video(KLING, idempotency_key="key-inflight-000000")
    records = [r for r in clean_emulator.state.requests() if r["method"] == "POST"]
    assert [t["id"] for t in clean_emulator.state.tasks()] == [task.id]
    assert 409 in [r["status"] for r in records]
    assert records[-1]["status"] == 200


def test_a_conflicting_key_is_final_and_names_the_rule(clean_emulator):
    hook = make_hook()
    hook.submit_video(KLING, idempotency_key="key-conflict-000000")
    with pytest.raises(EvolinkIdempotencyConflictError, match="different request") as info:
        hook.submit_video({**KLING, "prompt": "another"}, idempotency_key="key-conflict-000000")
    assert not info.value.retryable
    assert posts(clean_emulator) == 2 and len(clean_emulator.state.tasks()) == 1


@pytest.mark.parametrize("key", ["short", "x" * 97, "has space in it 123", "ключ-0000000000000000"])
def test_a_bad_idempotency_key_is_refused_before_sending(clean_emulator, key):
    with pytest.raises(EvolinkValidationError, match="idempotency_key"):
        make_hook().submit_video(KLING, idempotency_key=key)
    assert clean_emulator.state.requests() == []


def test_post_is_retried_when_the_connection_never_opened(conn_env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn_env("evolink_closed", connection_json(f"http://127.0.0.1:{port}"))
    attempts: list[float] = []
    hook = EvolinkHook("evolink_closed", retry_policy=FAST, sleep=attempts.append)
    with pytest.raises(EvolinkConnectionError) as info:
        hook.submit_video(KLING)
    assert not info.value.sent
    assert len(attempts) == FAST.paid_max_attempts - 1


# ---- async path ----------------------------------------------------------------------------------------


def test_async_calls_share_the_rules(clean_emulator):
    hook = make_hook()

    async def scenario():
        async with hook.async_session() as session:
            task = await hook.async_submit_video(KLING, session=session)
            fetched = await hook.async_get_task(task.id, session=session)
            credits = await hook.async_get_credits(session=session)
            return task, fetched, credits

    task, fetched, credits = asyncio.run(scenario())
    assert fetched.id == task.id and credits.remaining_credits is not None


def test_async_post_after_a_502_is_resent_with_the_same_key(clean_emulator):
    clean_emulator.faults.http_status(502, method="POST", after_processing=True)
    task = asyncio.run(make_hook().async_submit_video(KLING))
    assert_one_job_answered_from_the_ledger(clean_emulator, task)


def test_async_get_retries_html_503(clean_emulator):
    clean_emulator.faults.http_status(503, method="GET", body="html", count=2)
    credits = asyncio.run(make_hook().async_get_credits())
    assert credits.remaining_credits is not None
    assert gets(clean_emulator) == 3


def test_env_connection_is_not_leaked_to_other_tests():
    assert "evolink_closed" not in os.environ.get("AIRFLOW_CONN_EVOLINK_DEFAULT", "")

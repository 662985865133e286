"""The connection extra ``retry``: the hook's retry policy set per connection, against the real emulator."""

from __future__ import annotations

import asyncio

import pytest

from airflow_evolink.core.errors import EvolinkServerError
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.hooks.evolink import EvolinkHook
from tests.conftest import connection_json

TWO_QUICK_SENDS = {"max_attempts": 2, "initial_wait": 0, "jitter": 0}


@pytest.fixture
def conn_env(monkeypatch):
    def set_conn(conn_id: str, value: str) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)

    return set_conn


def credit_reads(emulator) -> int:
    return sum(1 for r in emulator.state.requests() if r["path"] == "/v1/credits")


def test_the_extra_sets_how_often_a_read_is_sent(clean_emulator, conn_env):
    conn_env("evolink_retry", connection_json(clean_emulator.base_url, retry=TWO_QUICK_SENDS))
    clean_emulator.faults.http_status(503, method="GET", path="/v1/credits", count=3)
    hook = EvolinkHook("evolink_retry")
    assert hook.retry_policy == RetryPolicy(max_attempts=2, initial_wait=0.0, jitter=0.0)
    with pytest.raises(EvolinkServerError):
        hook.get_credits()
    assert credit_reads(clean_emulator) == 2
    # The provider's own key, not a header (HttpHook sends other extra keys as headers).
    assert "retry" not in hook.session.headers


def test_an_explicit_policy_wins_over_the_extra(clean_emulator, conn_env):
    conn_env("evolink_retry", connection_json(clean_emulator.base_url, retry=TWO_QUICK_SENDS))
    clean_emulator.faults.http_status(503, method="GET", path="/v1/credits", count=2)
    hook = EvolinkHook("evolink_retry", retry_policy={"max_attempts": 3, "initial_wait": 0, "jitter": 0})
    assert hook.get_credits().remaining_credits is not None
    assert credit_reads(clean_emulator) == 3


def test_without_the_extra_the_defaults_hold(clean_emulator):
    assert EvolinkHook().retry_policy == RetryPolicy()


@pytest.mark.parametrize(
    ("retry", "named"),
    [
        ({"max_atempts": 2}, "unknown field 'max_atempts'"),
        ({"max_attempts": 0}, "'max_attempts' must be a whole number of at least 1"),
        ({"paid_max_attempts": 1.5}, "'paid_max_attempts' must be a whole number"),
        ({"initial_wait": "fast"}, "'initial_wait' must be a number of seconds"),
        ({"jitter": -1}, "'jitter' must be a number of seconds, 0 or more"),
        ({"max_elapsed": 0}, "'max_elapsed' must be more than 0"),
        ([2], "must be an object of RetryPolicy fields"),
    ],
)
def test_a_bad_extra_is_refused_naming_the_field_before_any_request(clean_emulator, conn_env, retry, named):
    conn_env("evolink_bad_retry", connection_json(clean_emulator.base_url, retry=retry))
    with pytest.raises(ValueError, match="Connection 'evolink_bad_retry' extra 'retry'") as info:
        EvolinkHook("evolink_bad_retry").get_credits()
    assert named in str(info.value)
    assert clean_emulator.state.requests() == []


def test_prices_are_read_under_the_extra_without_a_key(clean_emulator, conn_env):
    from airflow_evolink.pricing.cache import clear_pricing_cache

    # No password: the pricing route is public, and the policy must not need the key either.
    conn_env("evolink_keyless", connection_json(clean_emulator.base_url, api_key="", retry=TWO_QUICK_SENDS))
    clear_pricing_cache()
    clean_emulator.state.set_pricing_routes(503)
    try:
        estimate = EvolinkHook("evolink_keyless").estimate_cost(
            {"model": "sora-2-preview", "prompt": "a test", "duration": 8}
        )
    finally:
        clean_emulator.state.set_pricing_routes(200)
        clear_pricing_cache()
    assert estimate.status == "unavailable"
    pricing_reads = [r for r in clean_emulator.state.requests() if "pricing" in r["path"]]
    assert len(pricing_reads) == 2


def test_async_calls_read_the_extra_without_a_blocking_lookup(clean_emulator, conn_env):
    conn_env("evolink_retry", connection_json(clean_emulator.base_url, retry=TWO_QUICK_SENDS))
    clean_emulator.faults.http_status(503, method="GET", path="/v1/credits", count=3)
    hook = EvolinkHook("evolink_retry")
    with pytest.raises(EvolinkServerError):
        asyncio.run(hook.async_get_credits())
    assert credit_reads(clean_emulator) == 2
    # The connection came through the async lookup; the hook's sync one (``_airflow_connection``) never ran.
    assert "_airflow_connection" not in hook.__dict__


def test_the_policy_a_trigger_carries_is_the_extras(clean_emulator, conn_env):
    conn_env("evolink_retry", connection_json(clean_emulator.base_url, retry=TWO_QUICK_SENDS))
    carried = EvolinkHook("evolink_retry").retry_policy.to_dict()
    assert RetryPolicy.from_dict(carried) == RetryPolicy.from_settings(TWO_QUICK_SENDS, source="extra")

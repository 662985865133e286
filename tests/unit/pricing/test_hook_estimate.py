"""EvolinkHook.estimate_cost against the emulator on 127.0.0.1: exact prices, no key, every failure."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_evolink.core.models import build_video_request
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.emulator import EmulatorServer
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.pricing.cache import clear_pricing_cache

FAST = RetryPolicy(max_attempts=3, initial_wait=0.0, max_wait=0.0, max_retry_after=0.0, jitter=0.0)
KLING = {
    "model": "kling-v3-image-to-video",
    "prompt": "The person slowly turns and smiles",
    "image_start": "https://example.com/portrait.jpg",
    "duration": 5,
    "quality": "720p",
}


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    clear_pricing_cache()
    yield
    clear_pricing_cache()


@pytest.fixture
def no_key_conn(clean_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A connection with the emulator's base URL and no API key at all."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_EVOLINK_PRICING_NOKEY",
        json.dumps({"conn_type": "evolink", "host": clean_emulator.base_url}),
    )
    return "evolink_pricing_nokey"


def hook(conn_id: str) -> EvolinkHook:
    return EvolinkHook(conn_id, retry_policy=FAST, sleep=lambda _s: None)


def pricing_requests(emulator: EmulatorServer) -> list[dict[str, Any]]:
    return [r for r in emulator.state.requests() if "/pricing-rules" in r["path"]]


def test_a_5_second_720p_kling_clip_is_27_credits_from_a_connection_without_a_key(
    no_key_conn: str, clean_emulator: EmulatorServer
) -> None:
    estimate = hook(no_key_conn).estimate_cost(build_video_request(KLING))

    assert (estimate.status, estimate.uc, estimate.credits) == ("estimated", 270_000, 27)
    assert f"{estimate.usd:.2f}" == "0.40"
    assert estimate.settlement_basis == "request_only" and estimate.fresh_until
    (component,) = estimate.components
    assert (component.quantity, component.rate_uc, component.subtotal_uc) == ("5", "54000", 270_000)
    assert component.tier is not None and "quality = 720p" in component.tier
    assert estimate.parameters == {"duration_seconds": 5, "quality": "720p", "sound": "off"}
    (read,) = pricing_requests(clean_emulator)
    assert read["path"] == "/v1/catalog/models/kling-v3-image-to-video/pricing-rules"
    assert read["authorization"] is False and read["status"] == 200


def test_the_key_is_never_sent_to_the_pricing_route_even_when_the_connection_has_one(
    clean_emulator: EmulatorServer,
) -> None:
    estimate = hook("evolink_default").estimate_cost(dict(KLING, quality="1080p", sound="on"))

    assert (estimate.status, estimate.uc) == ("estimated", 540_000)
    assert [r["authorization"] for r in pricing_requests(clean_emulator)] == [False]


def test_rules_are_read_once_then_served_from_the_cache(clean_emulator: EmulatorServer) -> None:
    evolink = hook("evolink_default")
    prices = {evolink.estimate_cost(dict(KLING, duration=seconds)).uc for seconds in (3, 5, 15)}
    other_hook = hook("evolink_default").estimate_cost(KLING)

    assert prices == {162_000, 270_000, 810_000} and other_hook.uc == 270_000
    assert len(pricing_requests(clean_emulator)) == 1


@pytest.mark.parametrize("status", [404, 500])
def test_pricing_routes_switched_off_give_an_unavailable_estimate_not_an_error(
    clean_emulator: EmulatorServer, status: int
) -> None:
    clean_emulator.state.set_pricing_routes(status)

    estimate = hook("evolink_default").estimate_cost(KLING)

    assert (estimate.status, estimate.uc, estimate.credits) == ("unavailable", None, None)
    assert estimate.reason and (("404" in estimate.reason) if status == 404 else "500" in estimate.reason)
    tries = len(pricing_requests(clean_emulator))
    assert tries == (1 if status == 404 else FAST.max_attempts)  # a 404 is final; a 5xx is retried
    assert not [r for r in clean_emulator.state.requests() if r["method"] == "POST"]


def test_a_model_without_published_rules_is_unavailable(clean_emulator: EmulatorServer) -> None:
    estimate = hook("evolink_default").estimate_cost({"model": "some-new-model", "duration": 5})
    assert estimate.status == "unavailable" and "no pricing rules" in str(estimate.reason)

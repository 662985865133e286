"""The provider's estimate equals what the emulator bills, for every model the emulator prices.

The emulator bills with plain arithmetic (emulator/pricing.py) and publishes the equivalent rules; the
provider reads those rules over HTTP and evaluates them. Two independent computations, one answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_evolink.emulator import EmulatorServer
from airflow_evolink.emulator.models import AUTO
from airflow_evolink.emulator.pricing import PLANS, bill_uc
from airflow_evolink.pricing.cache import RulesCache
from airflow_evolink.pricing.client import PricingClient

IMG = "https://example.com/frame.png"


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as running:
        yield running


def _bodies(model: str) -> Iterator[dict[str, Any]]:
    rule = PLANS[model].rule
    durations = sorted((rule.durations or {rule.default_duration}) - {AUTO})
    qualities: list[str | None] = [*sorted(rule.qualities)] if rule.qualities else [None]
    base: dict[str, Any] = {"model": model, "prompt": "a red kite"}
    if rule.image_start_required:
        base["image_start"] = IMG
    low, _ = rule.image_urls
    if low:
        base["image_urls"] = [IMG] * low
    for name, (count, _high) in rule.url_lists.items():
        if count:
            base[name] = [IMG] * count
    for duration in {durations[0], durations[-1], rule.default_duration} & set(durations):
        for quality in qualities:
            body = dict(base, duration=duration)
            if quality is not None:
                body["quality"] = quality
            yield body
            if "sound" in rule.enums:
                yield dict(body, sound="on")
    yield base  # every default


@pytest.mark.parametrize("model", sorted(PLANS))
def test_estimate_equals_the_bill(server: EmulatorServer, model: str) -> None:
    client = PricingClient(cache=RulesCache())
    for body in _bodies(model):
        estimate = client.estimate(server.base_url, body)
        seconds = body.get("duration", PLANS[model].rule.default_duration)
        assert estimate.status in ("estimated", "partial"), (body, estimate.reason)
        assert estimate.uc == bill_uc(model, body, seconds), body


def test_a_posted_request_is_charged_its_estimate(server: EmulatorServer) -> None:
    client = PricingClient(cache=RulesCache())
    session = requests.Session()
    session.headers["Authorization"] = "Bearer sk-agreement"
    for body in (
        {"model": "kling-v3-text-to-video", "prompt": "p", "duration": 7, "quality": "1080p", "sound": "on"},
        {"model": "seedance-2.0-image-to-video", "prompt": "p", "duration": 5, "image_urls": [IMG, IMG]},
        {"model": "grok-imagine-video-1.0-t2v", "prompt": "p", "duration": 2},
    ):
        estimate = client.estimate(server.base_url, body)
        task = session.post(f"{server.base_url}/v1/videos/generations", json=body, timeout=10).json()
        assert task["usage"]["credits_reserved"] == estimate.uc  # the doc page's figure is the UC amount
        assert task["billing"]["reserved_credits"] == float(estimate.credits or 0)

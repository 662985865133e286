"""Rules cached until fresh_until and revalidated by ETag, against the emulator on 127.0.0.1."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.emulator import EmulatorServer
from airflow_evolink.pricing.cache import RulesCache, parse_timestamp
from airflow_evolink.pricing.client import PricingClient, rules_headers, rules_url

FAST = RetryPolicy(max_attempts=3, initial_wait=0.0, max_wait=0.0, max_retry_after=0.0, jitter=0.0)
KLING = {"model": "kling-v3-image-to-video", "duration": 5, "quality": "720p"}
PATH = "/v1/catalog/models/kling-v3-image-to-video/pricing-rules"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(clock: Clock) -> PricingClient:
    return PricingClient(cache=RulesCache(), clock=clock, retry_policy=FAST, sleep=lambda _s: None)


def reads(server: EmulatorServer) -> list[int]:
    return [r["status"] for r in server.state.requests() if r["path"] == PATH]


def test_urls_and_headers_never_carry_a_key() -> None:
    assert rules_url("http://h:1/", "Kling-V3-Image-To-Video") == f"http://h:1{PATH}?view=full"
    assert (
        "Authorization" not in rules_headers('"abc"') and rules_headers('"abc"')["If-None-Match"] == '"abc"'
    )
    assert parse_timestamp("2026-12-05T06:00:00Z") == parse_timestamp("2026-12-05T07:00:00+01:00")
    with pytest.raises(ValueError):
        parse_timestamp("2026-12-05T06:00:00")


def test_cached_within_its_window_then_revalidated_with_a_304(
    server: EmulatorServer, client: PricingClient, clock: Clock
) -> None:
    first = client.estimate(server.base_url, KLING)
    for _ in range(50):
        assert client.estimate(server.base_url, KLING).uc == 270_000
    assert reads(server) == [200]

    clock.now += 61  # past the 60 s revalidation window, well within fresh_until (600 s)
    assert client.estimate(server.base_url, KLING).uc == 270_000
    assert reads(server) == [200, 304]  # If-None-Match named the ETag: the cached rules are kept
    assert client.estimate(server.base_url, KLING).fresh_until == first.fresh_until
    assert reads(server) == [200, 304]


def test_rules_are_never_used_past_fresh_until(
    server: EmulatorServer, client: PricingClient, clock: Clock
) -> None:
    first = client.estimate(server.base_url, KLING)
    assert first.fresh_until is not None
    clock.now = parse_timestamp(first.fresh_until) + 1
    server.clock.advance(clock.now - time.time())  # the server publishes a later fresh_until by now

    again = client.estimate(server.base_url, KLING)

    assert reads(server) == [200, 200]  # asked plainly: a 304 cannot refresh expired rules
    assert again.uc == 270_000 and again.fresh_until is not None
    assert parse_timestamp(again.fresh_until) > clock.now


def test_rules_already_stale_when_read_are_unavailable(
    server: EmulatorServer, client: PricingClient, clock: Clock
) -> None:
    clock.now += 3600  # the client's clock is an hour ahead of the server's fresh_until
    estimate = client.estimate(server.base_url, KLING)
    assert estimate.status == "unavailable" and "stale" in str(estimate.reason)


def test_a_new_version_is_picked_up_at_revalidation(
    server: EmulatorServer, client: PricingClient, clock: Clock
) -> None:
    assert client.estimate(server.base_url, KLING).policy_version == "1"
    server.state.set_pricing_routes(revision=2)
    assert client.estimate(server.base_url, KLING).policy_version == "1"  # still cached
    clock.now += 61
    assert client.estimate(server.base_url, KLING).policy_version == "2"
    assert reads(server) == [200, 200]


def test_a_failed_revalidation_keeps_rules_that_are_still_fresh(
    server: EmulatorServer, client: PricingClient, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    client.estimate(server.base_url, KLING)
    server.state.set_pricing_routes(500)
    clock.now += 61

    with caplog.at_level(logging.WARNING):
        kept = client.estimate(server.base_url, KLING)

    assert (kept.status, kept.uc) == ("estimated", 270_000)
    assert "cached rules are fresh until" in caplog.text
    assert reads(server) == [200, 500, 500, 500]  # retried, then the fresh cache answered

    clock.now += 600  # now past fresh_until: nothing left to fall back on
    gone = client.estimate(server.base_url, KLING)
    assert (gone.status, gone.uc) == ("unavailable", None) and "500" in str(gone.reason)


def test_a_404_at_revalidation_drops_the_cached_rules(
    server: EmulatorServer, client: PricingClient, clock: Clock
) -> None:
    client.estimate(server.base_url, KLING)
    server.state.set_pricing_routes(404)
    clock.now += 61
    assert client.estimate(server.base_url, KLING).status == "unavailable"
    server.state.set_pricing_routes(200)
    clock.now += 31  # past the remembered failure
    assert client.estimate(server.base_url, KLING).status == "estimated"
    assert reads(server) == [200, 404, 200]  # the second 200 is a plain read: the entry was dropped


@pytest.mark.parametrize(("status", "tries"), [(404, 1), (500, FAST.max_attempts)])
def test_a_failure_is_remembered_so_many_requests_ask_once(
    server: EmulatorServer, client: PricingClient, clock: Clock, status: int, tries: int
) -> None:
    server.state.set_pricing_routes(status)
    estimates = [client.estimate(server.base_url, dict(KLING, duration=d)) for d in range(3, 16)]

    assert {e.status for e in estimates} == {"unavailable"}
    assert len({e.reason for e in estimates}) == 1 and str(status) in str(estimates[0].reason)
    assert reads(server) == [status] * tries

    server.state.set_pricing_routes(200)
    assert client.estimate(server.base_url, KLING).status == "unavailable"  # still remembered
    clock.now += 31
    assert client.estimate(server.base_url, KLING).uc == 270_000
    assert reads(server) == [status] * tries + [200]


@pytest.mark.parametrize(
    "arrange",
    [
        lambda faults: faults.http_status(503, path=PATH, retry_after=0),
        lambda faults: faults.http_status(502, path=PATH, body="html"),
        lambda faults: faults.reset_connection(path=PATH),
    ],
)
def test_transient_failures_are_retried(server: EmulatorServer, client: PricingClient, arrange: Any) -> None:
    arrange(server.faults)
    assert client.estimate(server.base_url, KLING).uc == 270_000


def test_a_timeout_is_retried(server: EmulatorServer, clock: Clock) -> None:
    client = PricingClient(cache=RulesCache(), clock=clock, retry_policy=FAST, timeout=(1.0, 0.3))
    server.faults.delay(1.0, path=PATH)
    assert client.estimate(server.base_url, KLING).uc == 270_000


@pytest.mark.parametrize("kind", ["non_json", "truncated"])
def test_a_body_that_is_not_json_is_unavailable(
    server: EmulatorServer, client: PricingClient, kind: str
) -> None:
    getattr(server.faults, kind)(path=PATH)
    estimate = client.estimate(server.base_url, KLING)
    assert (estimate.status, estimate.uc) == ("unavailable", None) and "not JSON" in str(estimate.reason)


def test_one_cache_entry_per_base_url_and_model(server: EmulatorServer, clock: Clock) -> None:
    cache = RulesCache()
    client = PricingClient(cache=cache, clock=clock)
    client.estimate(server.base_url, KLING)
    client.estimate(server.base_url, dict(KLING, model="KLING-V3-IMAGE-TO-VIDEO"))
    client.estimate(server.base_url.replace("127.0.0.1", "localhost"), KLING)
    client.estimate(server.base_url, {"model": "sora-2-preview", "duration": 4})
    assert len(cache) == 3

"""The emulator's public pricing-rules routes: schema, ETag and 304, no key, and the 404/500 switches."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from airflow_evolink.emulator import EmulatorServer
from airflow_evolink.emulator import pricing as pricing_module
from airflow_evolink.pricing.rules import parse_catalog, parse_rules

RULES = "/v1/catalog/models/{model}/pricing-rules?view=full"


def get(server: EmulatorServer, path: str, **headers: str) -> requests.Response:
    return requests.get(server.base_url + path, headers=headers, timeout=10)


def test_model_rules_follow_the_published_schema_without_a_key(emulator: EmulatorServer) -> None:
    answer = get(emulator, RULES.format(model="kling-v3-image-to-video"))

    assert answer.status_code == 200 and answer.headers["ETag"].startswith('"')
    document = parse_rules(answer.json(), "kling-v3-image-to-video")
    assert document.meta.schema_version == "2" and document.meta.price_scope == "public_default"
    (component,) = document.model.components
    rates = {tier.sku_id: (tier.rate.uc, tier.rate.credits, tier.multiplier) for tier in component.tiers}
    assert rates["kling-v3-720p-sound-off"] == ("54000", "5.4", "1")
    assert rates["kling-v3-720p-sound-on"] == ("81000", "8.1", "1.5")
    assert rates["kling-v3-1080p-sound-off"] == ("71982", "7.1982", "1.333")
    assert rates["kling-v3-1080p-sound-on"] == ("108000", "10.8", "2")
    assert document.model.settlement_basis == "request_only"


def test_an_unknown_model_has_no_rules(emulator: EmulatorServer) -> None:
    assert get(emulator, RULES.format(model="no-such-model")).status_code == 404


def test_the_catalog_lists_every_published_video_model(emulator: EmulatorServer) -> None:
    answer = get(emulator, "/v1/catalog/pricing-rules?modality=video&view=full")

    catalog = parse_catalog(answer.json())
    ids = {model.model_id for model in catalog.models}
    assert {"kling-v3-image-to-video", "sora-2-preview", "minimax-hailuo-02"} <= ids
    assert get(emulator, "/v1/catalog/pricing-rules?modality=image").json()["models"] == []


def test_a_matching_if_none_match_gets_304_and_a_new_revision_a_new_etag(emulator: EmulatorServer) -> None:
    path = RULES.format(model="sora-2-preview")
    etag = get(emulator, path).headers["ETag"]

    again = get(emulator, path, **{"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag)
    assert get(emulator, path, **{"If-None-Match": '"other"'}).status_code == 200

    emulator.state.set_pricing_routes(revision=2)
    changed = get(emulator, path, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.json()["model"]["policy_version"] == 2


def test_fresh_until_follows_the_emulator_clock(emulator: EmulatorServer) -> None:
    path = RULES.format(model="kling-v3-image-to-video")
    before = get(emulator, path).json()["meta"]["fresh_until"]
    emulator.clock.advance(3600)
    after = get(emulator, path).json()["meta"]["fresh_until"]
    assert after > before


@pytest.mark.parametrize("status", [404, 500, 503])
def test_switches_make_both_routes_answer_a_status(api: Any, emulator: EmulatorServer, status: int) -> None:
    assert api.control("POST", "pricing", {"status": status}).json() == {"status": status, "revision": 1}

    for path in (RULES.format(model="kling-v3-image-to-video"), "/v1/catalog/pricing-rules?view=full"):
        assert get(emulator, path).status_code == status
    assert api.create().status_code == 200  # generation is not affected

    api.control("POST", "pricing", {"status": 200})
    assert get(emulator, RULES.format(model="kling-v3-image-to-video")).status_code == 200


def test_bad_switch_values_are_refused(api: Any) -> None:
    for bad in ({"status": 302}, {"status": True}, {"revision": 0}, {"mode": "off"}, {}):
        assert api.control("POST", "pricing", bad).status_code == 400, bad
    assert api.control("GET", "pricing").json() == {"status": 200, "revision": 1}


def test_the_switch_is_a_config_field_too(start_emulator: Any) -> None:
    server = start_emulator(pricing_status=404)
    assert get(server, RULES.format(model="kling-v3-image-to-video")).status_code == 404
    server.reset()
    assert get(server, RULES.format(model="kling-v3-image-to-video")).status_code == 404


IMG = "https://example.com/frame.png"
#: The table in emulator/pricing.py's docstring: part B's tests cap these requests half a UC above and below.
PRICE_TABLE = [
    ({"model": "kling-v3-image-to-video", "image_start": IMG, "duration": 5, "quality": "720p"}, 270_000),
    (
        {
            "model": "kling-v3-image-to-video",
            "image_start": IMG,
            "duration": 5,
            "quality": "720p",
            "sound": "on",
        },
        405_000,
    ),
    ({"model": "kling-v3-image-to-video", "image_start": IMG, "duration": 5, "quality": "1080p"}, 359_910),
    (
        {
            "model": "kling-v3-image-to-video",
            "image_start": IMG,
            "duration": 5,
            "quality": "1080p",
            "sound": "on",
        },
        540_000,
    ),
    ({"model": "sora-2-preview", "duration": 8}, 140_000),
    ({"model": "seedance-2.0-text-to-video", "duration": 5}, 36_753),
    ({"model": "seedance-2.0-image-to-video", "duration": 5, "image_urls": [IMG, IMG]}, 40_753),
    ({"model": "happyhorse-1.0-text-to-video", "duration": 5}, 80_000),
    ({"model": "happyhorse-1.1-text-to-video", "duration": 5}, 16_665),
    ({"model": "grok-imagine-video-1.0-t2v", "duration": 3}, 50_000),
]


@pytest.mark.parametrize(("body", "uc"), PRICE_TABLE)
def test_the_documented_price_table_is_what_the_emulator_bills(
    api: Any, emulator: EmulatorServer, body: dict[str, Any], uc: int
) -> None:
    task = api.create({"prompt": "a red kite", **body}).json()
    emulator.clock.advance(10)
    done = api.task(task["id"]).json()

    assert task["usage"]["credits_reserved"] == uc
    assert done["usage"]["credits_used"] * 10_000 == pytest.approx(uc, abs=1e-6)
    documented = [
        line for line in (pricing_module.__doc__ or "").splitlines() if line.startswith(body["model"])
    ]
    assert any(f"{uc:,}" in line for line in documented), f"{uc:,} UC is not in the docstring's table"

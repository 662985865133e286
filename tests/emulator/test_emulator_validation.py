"""The emulator rejects what the real API rejects (400 naming the field) and accepts the rest."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_evolink.emulator.models import MODEL_RULES, PASS_THROUGH, rule_for
from airflow_evolink.emulator.pricing import bill_uc
from airflow_evolink.emulator.validation import ValidationError, validate

KLING = {"model": "kling-v3-image-to-video", "prompt": "smile", "image_start": "https://example.com/a.jpg"}
IMG = "https://example.com/a.png"


def body(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    merged = {**base, **changes}
    return {key: value for key, value in merged.items() if value is not ...}


INVALID = [
    # (body, param, words the message must contain)
    ({"prompt": "no model"}, "model", ["model", "required"]),
    (body(KLING, model=""), "model", ["model", "non-empty"]),
    (body(KLING, model=5), "model", ["model", "string"]),
    (body(KLING, prompt="x" * 2501), "prompt", ["prompt", "2500"]),
    (body(KLING, prompt=None), "prompt", ["prompt", "string"]),
    (body(KLING, negative_prompt=["text"]), "negative_prompt", ["negative_prompt", "string"]),
    (body(KLING, image_start=...), "image_start", ["image_start", "required"]),
    (body(KLING, image_start="ftp://example.com/a.jpg"), "image_start", ["image_start", "http"]),
    (body(KLING, image_start=...), "image_start", ["first frame"]),
    (body(KLING, image_end="not a url"), "image_end", ["image_end", "URL"]),
    (body(KLING, duration=2), "duration", ["duration", "3 to 15"]),
    (body(KLING, duration=16), "duration", ["duration", "3 to 15"]),
    (body(KLING, duration=True), "duration", ["duration", "integer"]),
    (body(KLING, duration=5.0), "duration", ["duration", "integer"]),
    (body(KLING, duration="5"), "duration", ["duration", "integer"]),
    (body(KLING, aspect_ratio="4:3"), "aspect_ratio", ["aspect_ratio", "16:9"]),
    (body(KLING, quality="2k"), "quality", ["quality", "720p"]),
    (body(KLING, quality="8k"), "quality", ["quality", "4k"]),
    (body(KLING, sound="yes"), "sound", ["sound", "on", "off"]),
    (body(KLING, model_params=[1]), "model_params", ["model_params", "object"]),
    (
        {"model": "kling-o3-image-to-video", "image_start": IMG, "image_urls": ["nope"]},
        "image_urls",
        ["image_urls[0]", "URL"],
    ),
    ({"model": "kling-o3-image-to-video", "image_end": IMG}, "image_end", ["image_end", "image_start"]),
    ({"model": "kling-v3-text-to-video", "prompt": "p", "duration": 20}, "duration", ["duration"]),
    ({"model": "kling-v3-turbo-image-to-video", "image_start": IMG, "quality": "4k"}, "quality", ["1080p"]),
    ({"model": "kling-o3-reference-to-video", "prompt": "p", "duration": 11}, "duration", ["3 to 10"]),
    ({"model": "kling-o1-image-to-video", "prompt": "p"}, "image_urls", ["required", "1 to 2"]),
    ({"model": "kling-o1-image-to-video", "image_urls": [IMG] * 3}, "image_urls", ["1 to 2"]),
    ({"model": "kling-o1-image-to-video", "image_urls": [IMG], "duration": 7}, "duration", ["5, 10"]),
    ({"model": "kling-o1-image-to-video", "image_urls": [IMG], "prompt": "o" * 5001}, "prompt", ["5000"]),
    # Seedance 2.0
    ({"model": "seedance-2.0-image-to-video", "prompt": "p"}, "image_urls", ["image_urls", "required"]),
    (
        {"model": "seedance-2.0-image-to-video", "image_urls": [IMG] * 3},
        "image_urls",
        ["image_urls", "1 to 2"],
    ),
    (
        {"model": "seedance-2.0-reference-to-video", "image_urls": [IMG] * 10},
        "image_urls",
        ["image_urls", "0 to 9"],
    ),
    (
        {"model": "seedance-2.0-reference-to-video", "video_urls": [IMG] * 4},
        "video_urls",
        ["video_urls", "0 to 3"],
    ),
    ({"model": "seedance-2.0-text-to-video", "duration": 3}, "duration", ["duration", "4 to 15"]),
    ({"model": "seedance-2.0-text-to-video", "quality": "2k"}, "quality", ["quality", "4k"]),
    ({"model": "seedance-2.0-fast-text-to-video", "quality": "1080p"}, "quality", ["quality", "480p"]),
    ({"model": "seedance-2.0-text-to-video", "image_urls": "https://x"}, "image_urls", ["array"]),
    # Seedance 2.5
    ({"model": "seedance-2.5-text-to-video", "duration": 31}, "duration", ["4 to 30", "-1"]),
    ({"model": "seedance-2.5-text-to-video", "duration": 0}, "duration", ["4 to 30"]),
    ({"model": "seedance-2.5-reference-to-video", "image_urls": [IMG] * 31}, "image_urls", ["0 to 30"]),
    ({"model": "seedance-2.5-reference-to-video", "audio_urls": [IMG] * 11}, "audio_urls", ["0 to 10"]),
    (
        {"model": "seedance-2.5-image-to-video", "image_urls": [IMG], "aspect_ratio": "16:9"},
        "aspect_ratio",
        ["adaptive"],
    ),
    # Older Seedance
    ({"model": "doubao-seedance-1.0-pro-fast", "duration": 13}, "duration", ["duration", "2 to 12"]),
    ({"model": "seedance-1.5-pro", "image_urls": [IMG] * 3}, "image_urls", ["0 to 2"]),
    # Wan
    ({"model": "wan2.6-image-to-video", "prompt": "p"}, "image_urls", ["image_urls", "exactly 1"]),
    ({"model": "wan2.6-image-to-video", "image_urls": [IMG, IMG]}, "image_urls", ["exactly 1"]),
    ({"model": "wan2.6-image-to-video", "image_urls": [IMG], "duration": 16}, "duration", ["2 to 15"]),
    ({"model": "wan2.6-image-to-video-flash", "image_urls": [IMG], "duration": 1}, "duration", ["2 to 15"]),
    ({"model": "wan2.6-text-to-video", "prompt": "x" * 1501}, "prompt", ["prompt", "1500"]),
    ({"model": "wan2.6-text-to-video", "quality": "480p"}, "quality", ["720p", "1080p"]),
    ({"model": "wan2.6-reference-video", "prompt": "p"}, "video_urls", ["required"]),
    ({"model": "wan2.6-reference-video", "video_urls": [IMG], "duration": 11}, "duration", ["2 to 10"]),
    ({"model": "wan2.5-text-to-video", "duration": 7}, "duration", ["5, 10"]),
    ({"model": "wan2.5-text-to-video", "quality": "4k"}, "quality", ["480p"]),
    ({"model": "wan3.0-text-to-video", "duration": 31}, "duration", ["2 to 30", "-1"]),
    # Veo
    ({"model": "veo-3.1-generate-preview", "duration": 5}, "duration", ["4, 6, 8"]),
    ({"model": "veo-3.1-generate-preview", "n": 5}, "n", ["n", "1 to 4"]),
    ({"model": "veo-3.1-generate-preview", "image_urls": [IMG] * 4}, "image_urls", ["0 to 3"]),
    ({"model": "veo-3.1-fast-generate-preview", "quality": "8k"}, "quality", ["4k"]),
    ({"model": "veo-3.1-fast-generate-preview", "aspect_ratio": "1:1"}, "aspect_ratio", ["auto"]),
    ({"model": "veo-3.1-generate-preview", "generation_type": "IMAGE"}, "generation_type", ["REFERENCE"]),
    # Sora
    ({"model": "sora-2-preview", "image_urls": [IMG, IMG]}, "image_urls", ["0 to 1"]),
    ({"model": "sora-2-preview", "duration": 10}, "duration", ["4, 8, 12"]),
    ({"model": "sora-2-pro-preview", "quality": "4k"}, "quality", ["720p", "1080p"]),
    ({"model": "sora-2-pro-preview", "aspect_ratio": "1280x720"}, "aspect_ratio", ["16:9", "9:16"]),
    # Hailuo
    ({"model": "MiniMax-Hailuo-2.3-Fast", "prompt": "p"}, "image_urls", ["required", "exactly 1"]),
    ({"model": "MiniMax-Hailuo-2.3", "image_urls": [IMG, IMG]}, "image_urls", ["0 to 1"]),
    ({"model": "MiniMax-Hailuo-02", "quality": "720p"}, "quality", ["512p", "768p", "1080p"]),
    ({"model": "MiniMax-Hailuo-2.3", "quality": "512p"}, "quality", ["768p", "1080p"]),
    ({"model": "MiniMax-Hailuo-02", "duration": 5}, "duration", ["6, 10"]),
    ({"model": "MiniMax-Hailuo-02", "quality": "1080p", "duration": 10}, "duration", ["1080p", "6"]),
    ({"model": "MiniMax-Hailuo-02", "prompt": "x" * 2001}, "prompt", ["2000"]),
    # HappyHorse
    ({"model": "happyhorse-1.1-image-to-video", "prompt": "p"}, "image_urls", ["required"]),
    ({"model": "happyhorse-1.0-image-to-video", "image_urls": [IMG] * 2}, "image_urls", ["exactly 1"]),
    ({"model": "happyhorse-1.1-reference-to-video", "image_urls": [IMG] * 10}, "image_urls", ["1 to 9"]),
    ({"model": "happyhorse-1.0-text-to-video", "duration": 2}, "duration", ["3 to 15"]),
    ({"model": "happyhorse-1.1-text-to-video", "quality": "4k"}, "quality", ["720p", "1080p"]),
    ({"model": "happyhorse-1.0-video-edit", "prompt": "p"}, "video_urls", ["required"]),
    # Grok
    ({"model": "grok-imagine-image-to-video", "prompt": "p"}, "image_urls", ["1 to 7"]),
    ({"model": "grok-imagine-video-1.0-i2v", "image_urls": [IMG], "duration": 16}, "duration", ["1 to 15"]),
    # callback_url, any model
    ({"model": "sora-2", "callback_url": "http://hooks.example.com/x"}, "callback_url", ["https"]),
    ({"model": "sora-2", "callback_url": "https://localhost/x"}, "callback_url", ["localhost"]),
    ({"model": "sora-2", "callback_url": "https://127.0.0.1/x"}, "callback_url", ["private"]),
    ({"model": "sora-2", "callback_url": "https://10.1.2.3/x"}, "callback_url", ["private"]),
    ({"model": "sora-2", "callback_url": "https://172.20.0.1/x"}, "callback_url", ["private"]),
    ({"model": "sora-2", "callback_url": "https://192.168.1.1/x"}, "callback_url", ["private"]),
    ({"model": "sora-2", "callback_url": "https://169.254.169.254/x"}, "callback_url", ["private"]),
    ({"model": "sora-2", "callback_url": "https://[::1]/x"}, "callback_url", ["private"]),
    ({"model": "any-new-model", "callback_url": "https://e.com/" + "a" * 2040}, "callback_url", ["2048"]),
    ({"model": "any-new-model", "duration": 0}, "duration", ["positive"]),
    ({"model": "any-new-model", "duration": -2}, "duration", ["positive", "-1"]),
    ({"model": "any-new-model", "image_urls": ["file:///etc/passwd"]}, "image_urls", ["image_urls[0]"]),
]

VALID = [
    KLING,
    body(KLING, image_end="https://example.com/b.jpg", duration=15, quality="4k", sound="on"),
    body(KLING, aspect_ratio="9:16", negative_prompt="text", model_params={"watermark": False}, extra=1),
    {"model": "kling-o3-image-to-video", "image_start": IMG, "image_urls": [IMG, IMG]},
    {"model": "kling-o3-image-to-video", "prompt": "p", "image_urls": [IMG] * 8, "quality": "4k"},
    {"model": "kling-v3-text-to-video", "prompt": "a cat", "duration": 3, "image_end": IMG},
    {"model": "kling-o3-reference-to-video", "prompt": "p", "video_url": IMG, "duration": 10},
    {"model": "kling-v3-turbo-text-to-video", "prompt": "p" * 3000, "quality": "1080p"},
    {"model": "kling-o1-video-edit", "prompt": "o" * 5000, "video_urls": [IMG], "image_urls": [IMG] * 4},
    {"model": "seedance-2.0-image-to-video", "image_urls": [IMG, IMG], "quality": "4k", "duration": 15},
    {"model": "seedance-2.0-text-to-video", "prompt": "p", "image_urls": [IMG]},
    {"model": "seedance-2.0-reference-to-video", "video_urls": [IMG] * 3, "aspect_ratio": "21:9"},
    {"model": "seedance-2.0-mini-text-to-video", "prompt": "p", "quality": "480p"},
    {"model": "seedance-2.5-image-to-video", "image_urls": [IMG], "duration": -1, "aspect_ratio": "adaptive"},
    {"model": "doubao-seedance-1.0-pro-fast", "duration": 2, "aspect_ratio": "keep_ratio"},
    {"model": "wan2.6-image-to-video", "image_urls": [IMG], "duration": 15, "prompt": "x" * 1500},
    {"model": "wan2.6-text-to-video", "prompt": "p", "duration": 2, "image_urls": [IMG]},
    {"model": "wan2.6-reference-video-flash", "video_urls": [IMG] * 3, "duration": 2},
    {"model": "wan2.5-image-to-video", "image_urls": [IMG], "prompt": "w" * 5000, "quality": "480p"},
    {"model": "wan3.0-prime-image-to-video", "duration": 30},
    {"model": "wan3.0-reference-video", "duration": -1},
    {"model": "veo3.1-pro", "aspect_ratio": "auto", "duration": 8, "image_urls": [IMG, IMG]},
    {"model": "veo3.1-fast", "image_urls": [IMG] * 3},
    {"model": "veo-3.1-generate-preview", "generation_type": "REFERENCE", "image_urls": [IMG] * 3},
    {"model": "veo-3.1-generate-preview", "generation_type": "REFERENCE", "image_urls": [IMG], "duration": 6},
    {"model": "veo-3.1-fast-generate-preview", "aspect_ratio": "auto", "quality": "4k", "n": 4},
    {"model": "sora-2", "prompt": "x" * 3000, "image_urls": [IMG], "aspect_ratio": "9:16"},
    {"model": "sora-2-preview", "duration": 12, "aspect_ratio": "1280x720"},
    {"model": "sora-2-pro-preview", "duration": 8, "quality": "1080p"},
    {"model": "MiniMax-Hailuo-02", "image_urls": [IMG, IMG], "quality": "1080p", "duration": 6},
    {"model": "MiniMax-Hailuo-02", "image_urls": [IMG], "quality": "512p", "duration": 10},
    {"model": "MiniMax-Hailuo-2.3-Fast", "image_urls": [IMG], "quality": "768p", "duration": 10},
    {"model": "happyhorse-1.1-image-to-video", "image_urls": [IMG], "duration": 15, "quality": "1080p"},
    {"model": "happyhorse-1.1-text-to-video", "prompt": "h" * 6000, "aspect_ratio": "9:21"},
    {"model": "happyhorse-1.0-video-edit", "prompt": "p", "video_urls": [IMG], "duration": 60},
    {"model": "grok-imagine-image-to-video", "prompt": "p", "image_urls": [IMG] * 7},
    {"model": "some-brand-new-model", "whatever": {"nested": True}, "duration": 30},
    {"model": "some-brand-new-model", "duration": -1, "image_urls": [IMG] * 40},
    {"model": "kling-v9-image-to-video", "prompt": "a new version passes through"},
    {"model": "sora-2", "callback_url": "https://hooks.example.com/evolink?x=1"},
    {"model": "sora-2", "callback_url": "https://8.8.8.8/hook"},
]


@pytest.mark.parametrize(("request_body", "param", "words"), INVALID)
def test_invalid_bodies_name_the_field_and_rule(
    request_body: dict[str, Any], param: str, words: list[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(request_body)
    assert caught.value.param == param
    for word in words:
        assert word in caught.value.message


@pytest.mark.parametrize("request_body", VALID)
def test_valid_bodies_pass(request_body: dict[str, Any]) -> None:
    assert validate(request_body).model == request_body["model"]


def test_every_known_model_accepts_a_minimal_body() -> None:
    """Guards the table itself: a typo'd rule that rejects its own model's basic request fails here."""
    for model, rule in MODEL_RULES.items():
        minimal: dict[str, Any] = {"model": model, "prompt": "a red kite"}
        if rule.image_start_required:
            minimal["image_start"] = IMG
        for name, (low, _high) in {"image_urls": rule.image_urls, **rule.url_lists}.items():
            if low:
                minimal[name] = [IMG] * low
        accepted = validate(minimal)
        assert accepted.duration == rule.default_duration, model
        assert accepted.uc == bill_uc(model, minimal, accepted.duration) > 0, model


def test_unknown_models_pass_through_new_family_versions_too() -> None:
    # A new version's rules are not known until the spec lists it: guessing them could refuse what the
    # API accepts (kling-o3 image-to-video, for one, does not require image_start).
    assert validate({"model": "vendor-x-video"}).duration == 5
    assert rule_for("kling-v9-image-to-video") is PASS_THROUGH
    assert validate({"model": "kling-v9-image-to-video", "prompt": "p"}).model == "kling-v9-image-to-video"


def test_automatic_duration_is_billed_at_the_default_length() -> None:
    accepted = validate({"model": "seedance-2.5-text-to-video", "prompt": "p", "duration": -1})
    assert accepted.duration == accepted.rule.default_duration == 5


def test_http_400_carries_message_and_param(api: Any) -> None:
    response = api.create({**KLING, "duration": 99})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400
    assert error["type"] == "invalid_request_error"
    assert error["param"] == "duration"
    assert "3 to 15" in error["message"]


def test_http_400_for_bodies_that_are_not_json_objects(api: Any) -> None:
    url = f"{api.base_url}/v1/videos/generations"
    garbage = api.session.post(
        url, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=5
    )
    array = api.session.post(url, json=[KLING], timeout=5)
    assert garbage.status_code == 400 and "JSON" in garbage.json()["error"]["message"]
    assert array.status_code == 400 and "object" in array.json()["error"]["message"]


def test_http_413_for_bodies_over_one_mib(api: Any) -> None:
    big = {**KLING, "padding": "x" * (1024 * 1024)}
    response = api.create(big)
    assert response.status_code == 413
    assert response.json()["error"]["type"] == "request_too_large_error"


def test_http_413_for_chunked_bodies_over_one_mib(api: Any) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"model": "sora-2", "padding": "'
        for _ in range(1100):
            yield b"x" * 1024
        yield b'"}'

    response = api.session.post(f"{api.base_url}/v1/videos/generations", data=chunks(), timeout=10)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 413


def test_rejected_requests_create_no_task_and_cost_nothing(api: Any, emulator: Any) -> None:
    before = api.credits().json()["data"]["token"]["remaining_credits"]
    assert api.create({**KLING, "quality": "8k"}).status_code == 400
    assert api.credits().json()["data"]["token"]["remaining_credits"] == before
    assert emulator.state.tasks() == []

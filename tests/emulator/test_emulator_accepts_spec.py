"""Requests the real API accepts (Evolink's parameter spec, snapshot 79a6b56a) that older rule tables refused.

Each body must pass the emulator's own validation, pass the client's rules untouched, and reach the
emulator through the real hook byte for byte: the body the emulator's create route received is captured
and compared with the fields given.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from airflow_evolink.core.models import build_video_request
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.emulator import api as emulator_api
from airflow_evolink.emulator.validation import validate
from airflow_evolink.hooks.evolink import EvolinkHook
from tests.conftest import connection_json

IMG = "https://example.com/frame.png"
IMG2 = "https://example.com/last.png"

ACCEPTED_BY_THE_API = {
    "kling-v3 i2v 4k": {
        "model": "kling-v3-image-to-video",
        "prompt": "p",
        "image_start": IMG,
        "quality": "4k",
    },
    "kling-o3 i2v 4k": {
        "model": "kling-o3-image-to-video",
        "prompt": "p",
        "image_start": IMG,
        "quality": "4k",
    },
    "kling-o3 t2v 4k": {"model": "kling-o3-text-to-video", "prompt": "p", "quality": "4k"},
    "veo-3.1 preview 4k": {"model": "veo-3.1-generate-preview", "prompt": "p", "quality": "4k"},
    "veo-3.1 fast preview 4k": {"model": "veo-3.1-fast-generate-preview", "prompt": "p", "quality": "4k"},
    "kling-o1 frames in image_urls": {
        "model": "kling-o1-image-to-video",
        "prompt": "the first frame turns into the last",
        "image_urls": [IMG, IMG2],
        "duration": 10,
    },
    "wan2.6 i2v 7 s": {"model": "wan2.6-image-to-video", "prompt": "p", "image_urls": [IMG], "duration": 7},
    "seedance-2.5 r2v 5 images": {
        "model": "seedance-2.5-reference-to-video",
        "prompt": "@image1 walks past @image5",
        "image_urls": [f"https://example.com/{index}.png" for index in range(5)],
        "duration": 12,
    },
    "wan2.5 1800-char prompt": {"model": "wan2.5-text-to-video", "prompt": "w" * 1800, "quality": "480p"},
}
CASES = pytest.mark.parametrize("fields", list(ACCEPTED_BY_THE_API.values()), ids=list(ACCEPTED_BY_THE_API))
FAST = RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.02, max_retry_after=0.05, jitter=0.0)


@CASES
def test_the_emulator_validates_it(fields: dict[str, Any]) -> None:
    assert validate(fields).model == fields["model"]


@CASES
def test_the_client_sends_it_untouched(fields: dict[str, Any]) -> None:
    assert build_video_request(fields).payload() == fields


@CASES
def test_the_hook_posts_it_and_the_emulator_receives_exactly_the_fields(
    fields: dict[str, Any], emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[dict[str, Any]] = []
    lock = threading.Lock()
    real_validate = emulator_api.validate

    def spy(body: Any) -> Any:
        with lock:
            received.append(body)
        return real_validate(body)

    # The emulator runs in this process: its create route looks `validate` up in its module.
    monkeypatch.setattr(emulator_api, "validate", spy)
    monkeypatch.setenv("AIRFLOW_CONN_EVOLINK_SPEC", connection_json(emulator.base_url))
    hook = EvolinkHook("evolink_spec", retry_policy=FAST, sleep=lambda _s: None)
    task = hook.submit_video(fields)
    assert received == [fields]
    assert task.model == fields["model"]
    assert task.is_terminal is False

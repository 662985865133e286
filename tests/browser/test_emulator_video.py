"""The emulator's result files are real videos: Chromium opens one from its URL and plays it.

This is what lets a gallery show the emulator's results. A 1 GiB result plays too: the clip's ``moov`` comes
first, so the browser reads a few Range requests from the start and never the padding.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_evolink.emulator import EmulatorConfig, EmulatorServer
from airflow_evolink.emulator.clip import HEIGHT, WIDTH
from tests.browser.conftest import assert_plays

KEY = "sk-browser-video"
BODY = {
    "model": "kling-v3-image-to-video",
    "prompt": "A lighthouse at dawn",
    "image_start": "https://example.com/lighthouse.jpg",
    "duration": 5,
}


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


# A small result playing is shown by the gallery test (tests/browser/test_airflow_ui.py), which plays the
# stored copy of one; here the size that only a moov-first clip read by Range can play.
@pytest.mark.parametrize("size", [1024**3], ids=["1GiB"])
def test_chromium_plays_a_result_file(page: Any, size: int) -> None:
    with EmulatorServer(EmulatorConfig(api_key=KEY, job_seconds=0, result_bytes=size)) as emulator:
        headers = {"Authorization": f"Bearer {KEY}"}
        created = requests.post(
            f"{emulator.base_url}/v1/videos/generations", json=BODY, headers=headers, timeout=10
        )
        created.raise_for_status()
        task = requests.get(
            f"{emulator.base_url}/v1/tasks/{created.json()['id']}", headers=headers, timeout=10
        )
        [url] = task.json()["results"]

        opened = page.goto(url)
        assert opened is not None and opened.status == 200
        video = page.locator("video")
        assert_plays(page, video)
        assert video.evaluate("v => [v.videoWidth, v.videoHeight]") == [WIDTH, HEIGHT]

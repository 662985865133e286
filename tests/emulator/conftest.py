"""Fixtures for the emulator's own tests: a started server and a thin `requests` client for it.

These fixtures build EmulatorServer directly, so the tests run whether or not the package's pytest plugin
is registered (the plugin itself is tested in test_emulator_cli.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from airflow_evolink.emulator import EmulatorConfig, EmulatorServer

KEY = "sk-test-key"
KLING = {
    "model": "kling-v3-image-to-video",
    "prompt": "The person slowly turns and smiles",
    "image_start": "https://example.com/portrait.jpg",
    "duration": 5,
    "quality": "720p",
}


class Api:
    """Just enough client to poke the emulator; deliberately not the project's real client."""

    def __init__(self, base_url: str, key: str | None = KEY) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if key is not None:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def create(self, body: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        return self.session.post(
            f"{self.base_url}/v1/videos/generations",
            json=KLING if body is None else body,
            timeout=10,
            **kwargs,
        )

    def task(self, task_id: str) -> requests.Response:
        return self.session.get(f"{self.base_url}/v1/tasks/{task_id}", timeout=10)

    def credits(self) -> requests.Response:
        return self.session.get(f"{self.base_url}/v1/credits", timeout=10)

    def control(self, method: str, path: str, payload: Any = None) -> requests.Response:
        return requests.request(method, f"{self.base_url}/_emulator/{path}", json=payload, timeout=10)


@pytest.fixture
def start_emulator() -> Iterator[Callable[..., EmulatorServer]]:
    """Start emulators with any config; all are stopped after the test."""
    servers: list[EmulatorServer] = []

    def start(**config: Any) -> EmulatorServer:
        server = EmulatorServer(EmulatorConfig(**config)).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def emulator(start_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    return start_emulator(job_seconds=10)


@pytest.fixture
def api_for() -> Callable[..., Api]:
    """Api(server.base_url, key): a client for an emulator started by `start_emulator`."""

    def make(server: EmulatorServer, key: str | None = KEY) -> Api:
        return Api(server.base_url, key)

    return make


@pytest.fixture
def api(emulator: EmulatorServer) -> Api:
    return Api(emulator.base_url)


@pytest.fixture
def kling() -> dict[str, Any]:
    """A valid kling-v3 image-to-video body (a fresh copy per test)."""
    return dict(KLING)

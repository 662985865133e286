"""EmulatorServer start/stop behaviour and the injectable clock."""

from __future__ import annotations

import pytest
import requests

from airflow_evolink.emulator import EmulatorConfig, EmulatorServer
from airflow_evolink.emulator.clock import Clock

AUTH = {"Authorization": "Bearer sk-test"}


def test_server_restarts_and_reports_a_busy_port() -> None:
    server = EmulatorServer()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    server.start()
    try:
        with pytest.raises(RuntimeError, match="could not start"):
            EmulatorServer(port=server.port).start()
        server.stop()
        server.stop()  # idempotent
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{server.port}/v1/credits", headers=AUTH, timeout=2)
        server.start()
        assert requests.get(f"{server.base_url}/v1/credits", headers=AUTH, timeout=5).status_code == 200
    finally:
        server.stop()


def test_injected_clock_source_drives_the_timeline() -> None:
    now = [1000.0]
    clock = Clock(source=lambda: now[0], wall=lambda: 1_757_169_743.0)
    with EmulatorServer(EmulatorConfig(job_seconds=100), clock=clock) as server:
        created = requests.post(
            f"{server.base_url}/v1/videos/generations", json={"model": "sora-2"}, headers=AUTH, timeout=5
        ).json()
        assert created["created"] == 1_757_169_743
        assert created["id"].startswith("task-unified-1757169743-")
        url = f"{server.base_url}/v1/tasks/{created['id']}"
        now[0] += 55
        assert requests.get(url, headers=AUTH, timeout=5).json()["progress"] == 50
        now[0] += 45
        assert requests.get(url, headers=AUTH, timeout=5).json()["status"] == "completed"


def test_clock_never_moves_backwards() -> None:
    with pytest.raises(ValueError):
        Clock().advance(-1)

"""The file service's JSON upload routes (``upload/base64``, ``upload/url``) on a running emulator."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import requests

from airflow_evolink.emulator import EmulatorServer
from tests.emulator.conftest import KEY

FILES = "/api/v1/files"
AUTH = {"Authorization": f"Bearer {KEY}"}


def post(server: EmulatorServer, route: str, body: Any) -> requests.Response:
    kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
    return requests.post(f"{server.base_url}{FILES}/upload/{route}", headers=AUTH, timeout=30, **kwargs)


def test_base64_upload_is_served_back(start_emulator: Callable[..., EmulatorServer]) -> None:
    server = start_emulator()
    data = b"\x89PNG not really"
    encoded = "data:image/png;base64," + base64.b64encode(data).decode()
    answer = post(server, "base64", {"base64_data": encoded, "file_name": "a.png"})
    assert answer.status_code == 200, answer.text
    uploaded = answer.json()["data"]
    assert (uploaded["file_size"], uploaded["mime_type"]) == (len(data), "image/png")
    assert requests.get(uploaded["file_url"], timeout=10).content == data


def test_url_upload_fetches_the_file(start_emulator: Callable[..., EmulatorServer]) -> None:
    server = start_emulator()
    first = post(server, "base64", {"base64_data": base64.b64encode(b"frame").decode(), "file_name": "f.jpg"})
    answer = post(server, "url", {"file_url": first.json()["data"]["file_url"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["file_size"] == len(b"frame")


def test_a_body_without_the_field_is_refused_naming_it(start_emulator: Callable[..., EmulatorServer]) -> None:
    server = start_emulator()
    for route, field in (("base64", "base64_data"), ("url", "file_url")):
        for body in ({"other": 1}, b"not json", [1, 2]):
            answer = post(server, route, body)
            assert answer.status_code == 400, (route, body)
            assert answer.json()["msg"] == f"Expected JSON {{{field}}}"


def test_a_full_quota_is_refused_before_the_body_is_read(
    start_emulator: Callable[..., EmulatorServer],
) -> None:
    server = start_emulator(file_quota=1)
    assert post(server, "base64", {"base64_data": base64.b64encode(b"x").decode()}).status_code == 200
    for route in ("base64", "url"):
        answer = post(server, route, b"not even json")
        assert (answer.status_code, answer.json()["code"]) == (403, "file_quota_exceeded"), route

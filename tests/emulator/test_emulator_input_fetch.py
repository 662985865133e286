"""The emulator fetches a new task's inputs as Evolink does, and fails the task when one cannot be read.

Inputs are served by a small real HTTP server on 127.0.0.1 (stdlib ``http.server``) that records what it
was asked, and by the emulator's own file service.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from airflow_evolink.emulator import EmulatorServer
from tests.emulator.conftest import KEY, Api

BODY = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 800  # about 200 KB, sent in several chunks
DENIED = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
    b"<Message>Request has expired</Message></Error>"
)


class _Inputs(BaseHTTPRequestHandler):
    """/ok.png whole, /denied.png 403 with an S3-style body, /cut.png cut off before its length."""

    seen: list[tuple[str, str]]

    def do_GET(self) -> None:
        self.seen.append((self.command, self.path))
        name = self.path.split("?", 1)[0]
        if name == "/ok.png":
            self._send(200, BODY, len(BODY))
        elif name == "/denied.png":
            self._send(403, DENIED, len(DENIED), "application/xml")
        elif name == "/cut.png":
            self._send(200, BODY[:1000], len(BODY))
            self.close_connection = True
        else:
            self._send(404, b"missing", 7)

    def _send(self, status: int, body: bytes, length: int, kind: str = "image/png") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def inputs_server() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    seen: list[tuple[str, str]] = []
    handler = type("Handler", (_Inputs,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def quick(start_emulator: Callable[..., EmulatorServer]) -> EmulatorServer:
    """Tasks end at once, so the outcome shows on the first read."""
    return start_emulator(job_seconds=0)


def create_and_read(server: EmulatorServer, kling: dict[str, Any], **inputs: Any) -> dict[str, Any]:
    api = Api(server.base_url)
    created = api.create({**kling, **inputs})
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "pending"  # accepted and charged first, as Evolink does
    task = api.task(created.json()["id"]).json()
    return dict(task)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_readable_loopback_input_is_fetched_whole_with_its_query_untouched(quick, kling, inputs_server):
    base, seen = inputs_server
    query = "?X-Amz-Credential=AK%2F20261205%2Fus-east-1%2Fs3&X-Amz-Signature=ab12"
    task = create_and_read(quick, kling, image_start=f"{base}/ok.png{query}")
    assert task["status"] == "completed"
    assert seen == [("GET", f"/ok.png{query}")]  # a GET (not HEAD), the query byte for byte


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/denied.png?X-Amz-Signature=secret", "HTTP 403 Forbidden (AccessDenied: Request has expired)"),
        ("/nothing.png", "HTTP 404"),
        ("/cut.png", "the body was cut off"),
    ],
)
def test_an_unreadable_input_fails_the_task_naming_field_and_reason(
    quick, kling, inputs_server, path, reason
):
    base, _ = inputs_server
    task = create_and_read(quick, kling, image_end=f"{base}/ok.png", image_start=f"{base}{path}")
    assert task["status"] == "failed"
    assert task["error"]["code"] == "image_processing_error"
    message = task["error"]["message"]
    assert message.startswith(f"Failed to fetch input image_start ({base}{path.split('?')[0]}): ")
    assert reason in message
    assert "secret" not in message  # the query (a signature) is not repeated
    assert task["billing"]["charge_status"] == "released"  # refunded like any failed task


def test_an_unreachable_loopback_host_fails_the_task(quick, kling):
    url = f"http://127.0.0.1:{closed_port()}/frame.png"
    task = create_and_read(quick, kling, image_start=url)
    assert task["status"] == "failed"
    assert "cannot connect" in task["error"]["message"]


def test_a_list_item_is_named_and_a_video_gets_invalid_parameters(quick, inputs_server):
    base, _ = inputs_server
    body = {"model": "kling-o1-video-edit", "prompt": "walk on", "video_urls": [f"{base}/gone.mp4"]}
    api = Api(quick.base_url)
    created = api.create(body)
    assert created.status_code == 200, created.text
    task = api.task(created.json()["id"]).json()
    assert task["status"] == "failed"
    assert task["error"]["code"] == "invalid_parameters"
    assert task["error"]["message"].startswith(
        f"Failed to fetch input video_urls[0] ({base}/gone.mp4): HTTP 404"
    )


def test_other_hosts_are_not_fetched_and_taken_as_readable(quick, kling, inputs_server):
    _, seen = inputs_server
    task = create_and_read(quick, kling, image_start="https://example.com/portrait.jpg")
    assert task["status"] == "completed"
    assert seen == []


def test_own_file_urls_are_looked_up_not_fetched_over_http(quick, kling):
    api = Api(quick.base_url)
    uploaded = requests.post(
        f"{quick.base_url}/api/v1/files/upload/stream",
        files={"file": ("frame.png", BODY, "image/png")},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
    ).json()["data"]
    served = create_and_read(quick, kling, image_start=uploaded["file_url"])
    assert served["status"] == "completed"
    assert requests.delete(
        f"{quick.base_url}/api/v1/files/{uploaded['file_id']}",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=10,
    ).ok
    gone = create_and_read(quick, kling, image_start=uploaded["file_url"])
    assert gone["status"] == "failed"
    assert "the file service holds no such file" in gone["error"]["message"]
    # The lookups left no GET of the file in the request log, and took no fault rule.
    assert not [r for r in quick.state.requests() if r["path"].startswith("/uploads/")]
    assert api.credits().ok


def test_fetching_can_be_switched_off(start_emulator, kling):
    server = start_emulator(job_seconds=0, fetch_inputs=False)
    url = f"http://127.0.0.1:{closed_port()}/frame.png"
    assert create_and_read(server, kling, image_start=url)["status"] == "completed"


def test_the_command_line_switches_fetching_off():
    from airflow_evolink.emulator.__main__ import config_from, parse_args

    assert config_from(parse_args([])).fetch_inputs is True
    assert config_from(parse_args(["--no-fetch-inputs"])).fetch_inputs is False


def test_an_own_result_link_is_readable_while_ready(quick, kling):
    api = Api(quick.base_url)
    done = create_and_read(quick, kling)
    assert done["status"] == "completed"
    [result] = done["results"]
    edit = {"model": "kling-o1-video-edit", "prompt": "walk on"}
    reused = api.task(api.create({**edit, "video_urls": [result]}).json()["id"]).json()
    assert reused["status"] == "completed"
    missing = result.replace(done["id"], "task-unified-1-nosuchid")
    gone = api.task(api.create({**edit, "video_urls": [missing]}).json()["id"]).json()
    assert gone["status"] == "failed"
    assert gone["error"]["message"].endswith(
        "HTTP 404 Not Found (NoSuchKey: The specified key does not exist.)"
    )

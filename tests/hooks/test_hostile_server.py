"""A broken or hostile server cannot make the hook hang forever or read unbounded bodies."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from airflow_evolink.core.errors import EvolinkConnectionError, EvolinkResponseError
from airflow_evolink.core.protocol import MAX_RESPONSE_BYTES
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.hooks.evolink import EvolinkHook
from tests.conftest import connection_json

ONCE = RetryPolicy(max_attempts=1)


class _Hostile(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/v1/credits/huge-declared"):
            self.send_response(200)
            self.send_header("Content-Length", str(MAX_RESPONSE_BYTES * 10))
            self.end_headers()
            return
        if self.path.startswith("/v1/tasks/"):
            # An endless body without Content-Length: the client must stop reading at its limit.
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            chunk = b"[" * 65536
            try:
                while True:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                return
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def hostile(monkeypatch) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("AIRFLOW_CONN_EVOLINK_HOSTILE", connection_json(url))
    try:
        yield url
    finally:
        server.shutdown()


@pytest.fixture
def silent(monkeypatch) -> Iterator[str]:
    """Accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    monkeypatch.setenv("AIRFLOW_CONN_EVOLINK_SILENT", connection_json(url))
    try:
        yield url
    finally:
        sock.close()


def test_endless_body_is_cut_at_the_limit(hostile):
    with pytest.raises(EvolinkResponseError, match="larger than"):
        EvolinkHook("evolink_hostile", retry_policy=ONCE).get_task("task-unified-1757169743-7cvnl5zw")


def test_endless_body_is_cut_at_the_limit_async(hostile):
    hook = EvolinkHook("evolink_hostile", retry_policy=ONCE)
    with pytest.raises(EvolinkResponseError, match="larger than"):
        asyncio.run(hook.async_get_task("task-unified-1757169743-7cvnl5zw"))


def test_silent_server_times_out_sync(silent):
    hook = EvolinkHook("evolink_silent", timeout=(1.0, 0.5), retry_policy=ONCE)
    started = time.monotonic()
    with pytest.raises(EvolinkConnectionError, match="no answer"):
        hook.get_credits()
    assert time.monotonic() - started < 10


def test_silent_server_times_out_async(silent):
    hook = EvolinkHook("evolink_silent", timeout=(1.0, 0.5), retry_policy=ONCE)
    started = time.monotonic()
    with pytest.raises(EvolinkConnectionError, match="no answer"):
        asyncio.run(hook.async_get_credits())
    assert time.monotonic() - started < 10

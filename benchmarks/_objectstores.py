"""moto's S3 server in a process of its own, for the object-store benchmarks (upload and download).

Its own process, so the server's CPU is not counted in the measured client's (see ``_harness.py``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import requests


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    """Start moto's server on 127.0.0.1 and wait for its first answer (it loads its S3 backend then)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(endpoint, timeout=(2, 30))
            return process, endpoint
        except requests.RequestException:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit("moto's S3 server did not start") from None
            time.sleep(0.1)

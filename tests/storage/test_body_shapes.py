"""Every shape of HTTP body a result link may answer with lands on disk byte for byte, with its checksum.

The download reads plain bodies straight from the standard library's HTTP response and hands encoded ones to
``requests`` to decode; these tests serve each shape from a real server on 127.0.0.1 and compare the
file written, its size and its checksum with what was served.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.server
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import google_crc32c
import pytest
from airflow.sdk import ObjectStoragePath

from airflow_evolink.core.errors import EvolinkConnectionError, EvolinkResponseError
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.storage.checksum import CHECKSUMS, ChecksumKind
from airflow_evolink.storage.download import PART_MARK, download_videos
from tests.storage.local_server import serve

FAST = RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.02, jitter=0.0)
# Several buffers' worth, and not a multiple of the buffer size, so the last read is a short one.
VIDEO = hashlib.shake_256(b"evolink").digest(5 * 1024 * 1024 + 12345)


class _Shapes(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    served = 0

    def do_GET(self) -> None:
        type(self).served += 1
        shape = self.path.strip("/").split(".")[0]
        if shape == "length":
            self._head(len(VIDEO))
            self.wfile.write(VIDEO)
        elif shape == "chunked":
            self._head(None, ("Transfer-Encoding", "chunked"))
            for start in range(0, len(VIDEO), 300_000):
                piece = VIDEO[start : start + 300_000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        elif shape == "gzip":
            packed = gzip.compress(VIDEO, compresslevel=1)
            self._head(len(packed), ("Content-Encoding", "gzip"))
            self.wfile.write(packed)
        elif shape == "truncated":
            self._head(len(VIDEO))
            self.wfile.write(VIDEO[: len(VIDEO) // 2])
            self.close_connection = True
        elif shape == "reset":
            self._head(len(VIDEO))
            self.wfile.write(VIDEO[: len(VIDEO) // 2])
            self.wfile.flush()
            # Let the client drain what was sent and wait for more, then reset the connection: closing
            # with linger on, zero seconds, sends an RST. Closed here, before the server's own shutdown
            # sends a FIN, so the client never sees a clean end of stream first.
            time.sleep(0.2)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
        else:
            self.send_error(404)

    def _head(self, length: int | None, *extra: tuple[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        if length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve(_Shapes) as base_url:
        yield base_url


EXPECTED = {
    "crc32c": f"crc32c:{google_crc32c.value(VIDEO):08x}",
    "sha256": f"sha256:{hashlib.sha256(VIDEO).hexdigest()}",
    None: None,
}


@pytest.mark.parametrize("checksum", ["crc32c", "sha256", None])
@pytest.mark.parametrize("shape", ["length", "chunked", "gzip"])
def test_body_is_written_exactly_with_its_checksum(server, tmp_path, shape, checksum):
    [video] = download_videos(
        [f"{server}/{shape}.mp4"],
        ObjectStoragePath(f"file://{tmp_path}"),
        task_id="t1",
        checksum=checksum,
    )
    written = tmp_path / "t1.mp4"
    assert written.read_bytes() == VIDEO
    assert video.size == len(VIDEO)
    assert video.checksum == EXPECTED[checksum]
    assert [p.name for p in tmp_path.iterdir()] == ["t1.mp4"]


def test_unknown_checksum_is_refused_before_any_request(server, tmp_path):
    served_before = _Shapes.served
    with pytest.raises(ValueError, match="checksum must be one of 'crc32c', 'sha256' or None"):
        download_videos(
            [f"{server}/length.mp4"], ObjectStoragePath(f"file://{tmp_path}"), task_id="t", checksum="md5"
        )
    assert _Shapes.served == served_before
    assert list(tmp_path.iterdir()) == []


class _BrokenChecksum:
    def update(self, data: object) -> None:
        raise MemoryError("checksum could not allocate")

    def hexdigest(self) -> str:
        return ""


@pytest.mark.parametrize("background", [True, False], ids=["second thread", "inline"])
def test_a_failing_checksum_fails_the_download_instead_of_hanging(server, tmp_path, monkeypatch, background):
    # A slow checksum runs on a second thread; its failure must reach the copying thread, which would
    # otherwise wait forever on a full backlog.
    monkeypatch.setitem(CHECKSUMS, "crc32c", ChecksumKind(_BrokenChecksum, background=background))
    outcome: list[BaseException | None] = []

    def download() -> None:
        try:
            download_videos(
                [f"{server}/length.mp4"],
                ObjectStoragePath(f"file://{tmp_path}"),
                task_id="t",
                retry_policy=FAST,
            )
            outcome.append(None)
        except BaseException as exc:  # the test inspects what escaped
            outcome.append(exc)

    worker = threading.Thread(target=download, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the download hung after its checksum failed"
    assert isinstance(outcome[0], MemoryError)
    assert [p.name for p in tmp_path.iterdir()] == []


@pytest.mark.parametrize("shape", ["length", "chunked"])
def test_non_local_filesystem_gets_exact_bytes(server, shape):
    # Destinations other than local files write through fsspec's own file objects.
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach(protocol="memory", fs=MemoryFileSystem())
    folder = ObjectStoragePath(f"memory://evolink-shapes-{uuid.uuid4().hex}")
    [video] = download_videos([f"{server}/{shape}.mp4"], folder, task_id="t2")
    assert (folder / "t2.mp4").read_bytes() == VIDEO
    assert video.checksum == EXPECTED["crc32c"]


@pytest.mark.parametrize(
    ("shape", "error"), [("truncated", EvolinkResponseError), ("reset", EvolinkConnectionError)]
)
def test_broken_body_is_retried_then_fails_leaving_nothing(server, tmp_path, shape, error):
    with pytest.raises(error) as raised:
        download_videos(
            [f"{server}/{shape}.mp4"],
            ObjectStoragePath(f"file://{tmp_path}"),
            task_id="t3",
            retry_policy=FAST,
        )
    assert f"{shape}.mp4" in str(raised.value)
    leftovers: list[Path] = [
        p for p in tmp_path.iterdir() if p.name.startswith(PART_MARK) or p.suffix == ".mp4"
    ]
    assert leftovers == []


def test_failure_to_write_the_destination_is_not_a_connection_error(server, tmp_path):
    # A destination that cannot take the bytes (here: a file-size limit of 1 MiB, in a child process)
    # fails as itself, at once: retrying the download cannot help, and the error must not read like a
    # network fault.
    script = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (1024 * 1024, resource.RLIM_INFINITY))\n"
        "from airflow.sdk import ObjectStoragePath\n"
        "from airflow_evolink.storage.download import download_videos\n"
        "try:\n"
        "    download_videos([sys.argv[1]], ObjectStoragePath(sys.argv[2]))\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, getattr(exc, 'errno', None))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, f"{server}/length.mp4", f"file://{tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    # The last line: Airflow may log to stdout before it (it does on 3.0).
    assert done.stdout.strip().splitlines()[-1].split() == ["OSError", str(errno.EFBIG)], done.stdout
    assert [p.name for p in tmp_path.iterdir()] == []

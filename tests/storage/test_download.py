"""Downloads against the emulator: local files, an fsspec filesystem, faults, a 200 MB file, a kill."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import google_crc32c
import pytest
import requests
from airflow.sdk import ObjectStoragePath

from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.emulator import EmulatorConfig, EmulatorServer
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.storage.download import PART_MARK, EvolinkResultExpiredError, download_videos
from tests.storage.local_server import serve

FAST = RetryPolicy(max_attempts=3, initial_wait=0.01, max_wait=0.02, jitter=0.0)
KLING = {"model": "kling-v3-image-to-video", "prompt": "x", "image_start": "https://example.com/a.png"}


def finished_task(emulator: EmulatorServer) -> tuple[str, str]:
    """A completed task on the emulator: (task id, result URL), using its clock instead of waiting."""
    task = EvolinkHook().submit_video(KLING)
    emulator.clock.advance(10)
    done = EvolinkHook().get_task(task.id)
    assert done.is_success
    return task.id, done.results[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(PART_MARK))


def test_local_download_is_complete_checked_and_idempotent(clean_emulator, tmp_path):
    task_id, url = finished_task(clean_emulator)
    expected = requests.get(url, timeout=10).content
    dest = ObjectStoragePath(f"file://{tmp_path}/videos")
    [video] = download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    written = tmp_path / "videos" / f"{task_id}.mp4"
    assert video.path == f"file://{written}" and video.size == len(expected) == written.stat().st_size
    assert video.checksum == f"crc32c:{google_crc32c.value(expected):08x}" and not video.skipped
    assert written.read_bytes() == expected
    assert leftovers(written.parent) == []
    mtime = written.stat().st_mtime_ns
    [again] = download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    assert again.skipped and again.size == len(expected)
    assert written.stat().st_mtime_ns == mtime  # the complete file was kept, not rewritten


def test_fsspec_memory_filesystem(clean_emulator):
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach(protocol="memory", fs=MemoryFileSystem())
    task_id, url = finished_task(clean_emulator)
    [video] = download_videos([url], ObjectStoragePath("memory://bucket/run-1"), task_id=task_id)
    target = ObjectStoragePath(f"memory://bucket/run-1/{task_id}.mp4")
    assert target.read_bytes() == requests.get(url, timeout=10).content
    assert video.size == len(target.read_bytes())


def test_broken_download_is_retried(clean_emulator, tmp_path):
    task_id, url = finished_task(clean_emulator)
    clean_emulator.faults.truncated(method="GET", path="/files/")
    [video] = download_videos(
        [url],
        ObjectStoragePath(f"file://{tmp_path}"),
        task_id=task_id,
        retry_policy=FAST,
        sleep=lambda _s: None,
    )
    assert (tmp_path / f"{task_id}.mp4").stat().st_size == video.size > 0
    assert leftovers(tmp_path) == []


def test_download_that_keeps_breaking_leaves_nothing(clean_emulator, tmp_path):
    task_id, url = finished_task(clean_emulator)
    clean_emulator.faults.truncated(method="GET", path="/files/", count=10)
    with pytest.raises(Exception, match="download"):
        download_videos(
            [url],
            ObjectStoragePath(f"file://{tmp_path}"),
            task_id=task_id,
            retry_policy=FAST,
            sleep=lambda _s: None,
        )
    assert list(tmp_path.iterdir()) == []


def test_expired_link_fails_clearly_unless_a_copy_exists(clean_emulator, tmp_path):
    task_id, url = finished_task(clean_emulator)
    dest = ObjectStoragePath(f"file://{tmp_path}")
    clean_emulator.faults.expire_results_now()
    with pytest.raises(EvolinkResultExpiredError, match="24 hours"):
        download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / f"{task_id}.mp4").write_bytes(b"kept from an earlier run")
    [video] = download_videos([url], dest, task_id=task_id, retry_policy=FAST)
    assert video.skipped and video.size == len(b"kept from an earlier run")


MEASURE = """
import json, resource, sys
from airflow.sdk import ObjectStoragePath
from airflow_evolink.storage.download import download_videos
url, dest = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
[video] = download_videos([url], ObjectStoragePath(dest), task_id="big")
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"size": video.size, "rss_before_kb": before, "rss_peak_kb": after}))
"""


def test_200_mb_download_streams_with_flat_memory(tmp_path):
    size = 200 * 1024 * 1024
    with EmulatorServer(EmulatorConfig(result_bytes=size, job_seconds=0)) as emulator:
        url = f"{emulator.base_url}/files/task-unified-1757169743-bigvideo.mp4"
        emulator.faults.next_jobs_seconds(0)
        session = requests.Session()
        headers = {"Authorization": "Bearer sk-any"}
        created = session.post(
            f"{emulator.base_url}/v1/videos/generations", json=KLING, headers=headers, timeout=10
        )
        task_id = created.json()["id"]
        url = session.get(f"{emulator.base_url}/v1/tasks/{task_id}", headers=headers, timeout=10).json()[
            "results"
        ][0]
        result = subprocess.run(
            [sys.executable, "-c", MEASURE, url, f"file://{tmp_path}"],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    growth_mb = (figures["rss_peak_kb"] - figures["rss_before_kb"]) / 1024
    print(
        f"\n200 MB download: RSS before {figures['rss_before_kb'] / 1024:.0f} MB, "
        f"peak {figures['rss_peak_kb'] / 1024:.0f} MB, growth {growth_mb:.1f} MB"
    )
    assert figures["size"] == size == (tmp_path / "big.mp4").stat().st_size
    assert growth_mb < 50


class _SlowVideo(http.server.BaseHTTPRequestHandler):
    """Serves 64 MiB slowly, so a download can be killed halfway."""

    size = 64 * 1024 * 1024

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(self.size))
        self.end_headers()
        chunk = b"\0" * 65536
        try:
            for _ in range(self.size // len(chunk)):
                self.wfile.write(chunk)
                time.sleep(0.002)
        except (BrokenPipeError, ConnectionResetError):
            return

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def slow_server() -> Iterator[str]:
    with serve(_SlowVideo) as base_url:
        yield f"{base_url}/slow.mp4"


def test_download_killed_halfway_leaves_no_file_and_the_next_run_cleans_up(slow_server, tmp_path):
    script = "import sys\nfrom airflow.sdk import ObjectStoragePath\nfrom airflow_evolink.storage.download import download_videos\ndownload_videos([sys.argv[1]], ObjectStoragePath(sys.argv[2]))\n"
    process = subprocess.Popen([sys.executable, "-c", script, slow_server, f"file://{tmp_path}"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        parts = [p for p in tmp_path.iterdir() if p.name.startswith(PART_MARK)]
        if parts and parts[0].stat().st_size > 4 * 1024 * 1024:
            break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("the download never got going")
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert not (tmp_path / "slow.mp4").exists()
    assert len(leftovers(tmp_path)) == 1
    [video] = download_videos([slow_server], ObjectStoragePath(f"file://{tmp_path}"))
    assert (tmp_path / "slow.mp4").stat().st_size == video.size == _SlowVideo.size
    assert leftovers(tmp_path) == []

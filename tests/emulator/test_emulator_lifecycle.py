"""A task from create to download, driven by the emulator's clock instead of sleeping."""

from __future__ import annotations

import re
import struct
import time
from typing import Any

import requests

from airflow_evolink.emulator import EmulatorServer
from airflow_evolink.emulator.clip import playable_mp4
from airflow_evolink.emulator.content import mp4_header

TASK_ID = re.compile(r"^task-unified-(\d+)-[a-z0-9]{8}$")


def test_create_returns_pending_task_in_the_documented_shape(api: Any) -> None:
    response = api.create()

    assert response.status_code == 200
    task = response.json()
    match = TASK_ID.match(task["id"])
    assert match and int(match.group(1)) == task["created"]
    assert abs(task["created"] - time.time()) < 5
    assert task["model"] == "kling-v3-image-to-video"
    assert task["object"] == "video.generation.task"
    assert task["type"] == "video"
    assert (task["status"], task["progress"]) == ("pending", 0)
    assert task["task_info"] == {"can_cancel": True, "estimated_time": 10, "video_duration": 5}
    assert task["usage"] == {
        "billing_rule": "per_second",
        "credits_reserved": 270000,
        "user_group": "default",
    }
    assert "results" not in task and "error" not in task


def test_task_moves_pending_processing_completed_as_the_clock_advances(
    api: Any, emulator: EmulatorServer
) -> None:
    task_id = api.create().json()["id"]
    seen = []
    # 0.5 s pending, then processing up to 8.9 s of the 10 s job: the emulator's clock is real time plus
    # what the test advances, so the last step leaves a second for the test itself on a loaded machine.
    for step in (0.5, 1.0, 3.0, 4.0, 0.4):
        emulator.clock.advance(step)
        body = api.task(task_id).json()
        seen.append((body["status"], body["progress"]))
        assert body["task_info"]["estimated_time"] >= 1
    emulator.clock.advance(1.1)
    done = api.task(task_id).json()

    assert seen[0] == ("pending", 0)
    assert [status for status, _ in seen[1:]] == ["processing"] * 4
    progress = [p for _, p in seen[1:]]
    assert progress == sorted(progress) and 1 <= progress[0] and progress[-1] <= 99
    assert (done["status"], done["progress"]) == ("completed", 100)
    assert done["results"] == [f"{emulator.base_url}/files/{task_id}.mp4"]
    assert "estimated_time" not in done["task_info"]


def test_create_answers_pending_even_for_instant_jobs(start_emulator: Any, api_for: Any) -> None:
    api = api_for(start_emulator(job_seconds=0))
    created = api.create().json()
    assert (created["status"], created["progress"]) == ("pending", 0)
    assert created["task_info"]["estimated_time"] == 1
    assert api.task(created["id"]).json()["status"] == "completed"


def test_task_completes_in_real_time_too(start_emulator: Any, api_for: Any) -> None:
    server = start_emulator(job_seconds=0.3)
    api = api_for(server)
    task_id = api.create().json()["id"]
    time.sleep(0.4)
    assert api.task(task_id).json()["status"] == "completed"


def test_result_download_whole_and_ranges(api: Any, emulator: EmulatorServer) -> None:
    task_id = api.create().json()["id"]
    emulator.clock.advance(10)
    url = api.task(task_id).json()["results"][0]

    whole = requests.get(url, timeout=10)  # no Authorization: a CDN-style link
    tail = requests.get(url, headers={"Range": "bytes=60000-"}, timeout=10)
    middle = requests.get(url, headers={"Range": "bytes=100-199"}, timeout=10)
    suffix = requests.get(url, headers={"Range": "bytes=-16"}, timeout=10)
    beyond = requests.get(url, headers={"Range": "bytes=70000-"}, timeout=10)
    head = requests.head(url, timeout=10)

    assert whole.status_code == 200
    assert whole.headers["Content-Type"] == "video/mp4"
    assert int(whole.headers["Content-Length"]) == len(whole.content) == 64 * 1024
    assert whole.content.startswith(mp4_header(64 * 1024)) and whole.content[4:8] == b"ftyp"
    assert whole.content == requests.get(url, timeout=10).content  # deterministic
    assert tail.status_code == 206
    assert tail.headers["Content-Range"] == "bytes 60000-65535/65536"
    assert tail.content == whole.content[60000:]
    assert middle.content == whole.content[100:200]
    assert suffix.content == whole.content[-16:]
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == "bytes */65536"
    assert head.status_code == 200 and head.headers["Content-Length"] == "65536" and head.content == b""


def test_different_tasks_get_different_bytes(api: Any, emulator: EmulatorServer) -> None:
    first, second = api.create().json()["id"], api.create().json()["id"]
    emulator.clock.advance(10)
    one = requests.get(api.task(first).json()["results"][0], timeout=10).content
    two = requests.get(api.task(second).json()["results"][0], timeout=10).content
    assert len(one) == len(two) and one != two


def test_one_gigabyte_result_is_served_by_range_without_building_it(
    start_emulator: Any, api_for: Any
) -> None:
    size = 1024**3
    server = start_emulator(job_seconds=0, result_bytes=size)
    api = api_for(server)
    url = api.task(api.create().json()["id"]).json()["results"][0]

    head = requests.head(url, timeout=10)
    end = requests.get(url, headers={"Range": f"bytes={size - 1000}-"}, timeout=10)
    with requests.get(url, stream=True, timeout=10) as streamed:
        first = next(streamed.iter_content(1 << 20))

    assert head.headers["Content-Length"] == str(size)
    assert end.status_code == 206 and len(end.content) == 1000
    assert end.headers["Content-Range"] == f"bytes {size - 1000}-{size - 1}/{size}"
    header = mp4_header(size)
    assert first[: len(header)] == header and header[-4:] == b"free"


def _top_level_boxes(data: bytes, size: int) -> list[tuple[bytes, int]]:
    """(type, size) of each top-level MP4 box, reading 64-bit sizes; the last box may run past ``data``."""
    boxes, position = [], 0
    while position < size:
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        if length == 1:
            length = struct.unpack(">Q", data[position + 8 : position + 16])[0]
        boxes.append((kind, length))
        position += length
    assert position == size
    return boxes


def test_result_files_are_a_playable_clip_padded_with_a_free_box() -> None:
    clip = playable_mp4()
    for size in (64 * 1024, 1024**3, 5 * 1024**3):
        header = mp4_header(size)
        assert header.startswith(clip)
        boxes = _top_level_boxes(header, size)
        assert [kind for kind, _ in boxes] == [b"ftyp", b"moov", b"mdat", b"free"]
        assert sum(length for _, length in boxes[:3]) == len(clip)
    assert mp4_header(5 * 1024**3)[len(clip) : len(clip) + 8] == b"\x00\x00\x00\x01free"  # 64-bit size


def test_result_files_too_small_for_the_clip_still_look_like_an_mp4() -> None:
    size = len(playable_mp4()) + 4
    header = mp4_header(size)
    assert len(header) == 40 and header[4:8] == b"ftyp" and header[36:40] == b"mdat"
    assert [kind for kind, _ in _top_level_boxes(header, size)] == [b"ftyp", b"mdat"]


def test_result_link_is_missing_before_completion_and_unknown_ids_are_404(
    api: Any, emulator: EmulatorServer
) -> None:
    task_id = api.create().json()["id"]
    early = requests.get(f"{emulator.base_url}/files/{task_id}.mp4", timeout=10)
    unknown = requests.get(f"{emulator.base_url}/files/task-unified-1-nothere0.mp4", timeout=10)
    assert early.status_code == 404 and unknown.status_code == 404
    assert "NoSuchKey" in unknown.text


def test_result_link_expires_after_ttl(api: Any, emulator: EmulatorServer) -> None:
    task_id = api.create().json()["id"]
    emulator.clock.advance(10)
    url = api.task(task_id).json()["results"][0]
    emulator.clock.advance(86_400 - 1)
    assert requests.get(url, timeout=10).status_code == 200

    emulator.clock.advance(1)
    expired = requests.get(url, timeout=10)

    assert expired.status_code == 403
    assert "expired" in expired.text
    assert api.task(task_id).json()["status"] == "completed"  # the task itself is still readable


def test_expire_results_now_only_hits_finished_jobs(api: Any, emulator: EmulatorServer) -> None:
    done = api.create().json()["id"]
    emulator.clock.advance(10)
    running = api.create().json()["id"]

    assert emulator.faults.expire_results_now() == 1
    emulator.clock.advance(10)

    assert requests.get(api.task(done).json()["results"][0], timeout=10).status_code == 403
    assert requests.get(api.task(running).json()["results"][0], timeout=10).status_code == 200


def test_expiry_follows_a_custom_ttl(start_emulator: Any, api_for: Any, kling: dict[str, Any]) -> None:
    server = start_emulator(job_seconds=1, result_ttl_seconds=30)
    api = api_for(server)
    task_id = api.create({**kling, "duration": 3}).json()["id"]
    server.clock.advance(1)
    url = api.task(task_id).json()["results"][0]
    server.clock.advance(30)
    assert requests.get(url, timeout=10).status_code == 403

"""Inputs from storage in real Airflow (``dag.test()``) against the emulator's file service.

Each test runs a one-task DAG whose frames are storage paths, and checks what the emulator saw: the
uploads, the paid POST's body, what it holds.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest

from airflow_evolink.hooks.files import MAX_UPLOAD_BYTES
from tests.airflow_helpers import dag_bag, xcom_values
from tests.conftest import TEST_API_KEY

pytestmark = pytest.mark.usefixtures("airflow_db")

CREATE = "/v1/videos/generations"
UPLOAD = "/api/v1/files/upload/stream"
TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR"


def png(size: int = 4096, seed: int = 0) -> bytes:
    body = bytes((seed + i) % 251 for i in range(max(0, size - len(PNG))))
    return PNG + body


def run(dag_id: str, **params: Any) -> Any:
    """One run of a DAG of tests/dags/evolink_inputs.py with these params (frame paths)."""
    return dag_bag(TEST_DAGS).get_dag(dag_id).test(run_conf=params)


def requests_to(emulator: Any, path: str) -> list[dict[str, Any]]:
    return [r for r in emulator.state.requests() if r["path"] == path]


def tries(dag_run: Any) -> int:
    return int(dag_run.get_task_instance("generate").try_number)


def memory_file(data: bytes) -> str:
    url = f"memory://frames-{uuid.uuid4().hex[:8]}/last.png"
    fs, path = fsspec.url_to_fs(url)
    fs.pipe_file(path, data)
    return url


def test_file_and_memory_frames_are_uploaded_and_sent(clean_emulator, tmp_path):
    first, last = png(5000, 1), png(7000, 2)
    (tmp_path / "first.png").write_bytes(first)
    last_url = memory_file(last)
    # Both frames are templated from params: a file:// path and an fsspec memory:// one.
    dag_run = run("inputs_frames", first=f"file://{tmp_path}/first.png", last=last_url)
    assert dag_run.state == "success"
    [post] = requests_to(clean_emulator, CREATE)
    held = clean_emulator.state.uploads()
    assert held["uploads"] == 2 and len(held["files"]) == 2
    [records] = xcom_values(dag_run, "generate", "evolink_inputs")
    by_field = {record["field"]: record for record in records}
    assert by_field["image_start"]["source"] == f"file://{tmp_path}/first.png"
    assert by_field["image_end"]["source"] == last_url
    assert not any(record["reused"] for record in records)
    # The paid POST carries the file service's URLs, and the emulator holds exactly the bytes.
    for field, data in (("image_start", first), ("image_end", last)):
        url = post["body"][field]
        assert url == by_field[field]["url"]
        assert url.startswith(f"{clean_emulator.base_url}/uploads/{by_field[field]['file_id']}/")
        assert clean_emulator.state.uploaded_bytes(by_field[field]["file_id"]) == data
        import requests

        assert requests.get(url, timeout=10).content == data  # what Evolink's workers would fetch
    # What was asked shows the URLs too (no storage object in XCom).
    [asked] = xcom_values(dag_run, "generate", "evolink_request")
    assert asked["image_start"] == post["body"]["image_start"]


def test_a_file_over_100_mb_is_refused_before_anything_is_sent(clean_emulator, tmp_path, capfd):
    big = tmp_path / "huge.png"
    big.write_bytes(PNG)
    subprocess.run(["truncate", "-s", str(MAX_UPLOAD_BYTES + 1), str(big)], check=True)  # sparse
    dag_run = run("inputs_first", first=f"file://{big}")
    assert dag_run.state == "failed"
    assert tries(dag_run) == 1  # refused for good: Airflow does not retry it
    assert clean_emulator.state.requests() == []  # no upload, no POST
    out = capfd.readouterr().out
    assert "image_start" in out and "at most 100 MB" in out


def test_an_upload_cut_mid_stream_is_sent_again(clean_emulator, tmp_path):
    data = png(3 * 1024 * 1024, 3)
    (tmp_path / "first.png").write_bytes(data)
    clean_emulator.faults.reset_connection(method="POST", path=UPLOAD)
    dag_run = run("inputs_frames", first=f"file://{tmp_path}/first.png", last="https://example.com/b.png")
    assert dag_run.state == "success"
    assert tries(dag_run) == 1  # the hook's retry policy sent it again within the try
    uploads = requests_to(clean_emulator, UPLOAD)
    assert [r["status"] for r in uploads] == [0, 200]  # the first connection was reset
    held = clean_emulator.state.uploads()
    assert held["uploads"] == 1
    [file] = held["files"]
    assert clean_emulator.state.uploaded_bytes(file["file_id"]) == data
    [post] = requests_to(clean_emulator, CREATE)
    assert post["body"]["image_start"].endswith(f"/uploads/{file['file_id']}/first.png")


def test_a_retry_after_a_failed_post_reuses_the_upload(clean_emulator, tmp_path):
    (tmp_path / "first.png").write_bytes(png(4096, 4))
    # 501: the server cannot do it now; not retried within the try, so Airflow's retry takes over.
    clean_emulator.faults.http_status(501, method="POST", path=CREATE)
    dag_run = run("inputs_first", first=f"file://{tmp_path}/first.png")
    assert dag_run.state == "success"
    assert tries(dag_run) == 2
    assert clean_emulator.state.uploads()["uploads"] == 1
    assert len(requests_to(clean_emulator, UPLOAD)) == 1
    posts = requests_to(clean_emulator, CREATE)
    assert [r["status"] for r in posts] == [501, 200]
    # Same file URL, so the same body and the same Idempotency-Key on both tries.
    assert posts[0]["body"] is None or posts[0]["body"] == posts[1]["body"]
    assert posts[0]["idempotency_key"] == posts[1]["idempotency_key"]
    [records] = xcom_values(dag_run, "generate", "evolink_inputs")
    assert [record["reused"] for record in records] == [True]


def test_presign_is_refused_for_a_local_file(clean_emulator, tmp_path, capfd):
    (tmp_path / "first.png").write_bytes(png())
    dag_run = run("inputs_presign", first=f"file://{tmp_path}/first.png")
    assert dag_run.state == "failed"
    assert tries(dag_run) == 1
    assert clean_emulator.state.requests() == []
    out = capfd.readouterr().out
    assert "'image_start'" in out and "cannot be presigned" in out and "'file://'" in out


def test_an_https_url_passes_through_untouched(clean_emulator):
    url = "https://example.com/frames/a.png?v=2&sig=abc"
    dag_run = run("inputs_first", first=url)
    assert dag_run.state == "success"
    [post] = requests_to(clean_emulator, CREATE)
    assert post["body"]["image_start"] == url
    assert clean_emulator.state.uploads()["uploads"] == 0
    assert xcom_values(dag_run, "generate", "evolink_inputs") == []


def test_cleanup_uploads_deletes_them_when_the_video_is_done(clean_emulator, tmp_path):
    (tmp_path / "first.png").write_bytes(png())
    dag_run = run("inputs_cleanup", first=f"file://{tmp_path}/first.png")
    assert dag_run.state == "success"
    held = clean_emulator.state.uploads()
    assert held["uploads"] == 1 and held["deleted"] == 1 and held["files"] == []


def test_a_text_file_is_refused_for_an_image_field(clean_emulator, tmp_path, capfd):
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    dag_run = run("inputs_first", first=f"file://{notes}")
    assert dag_run.state == "failed"
    assert clean_emulator.state.requests() == []
    assert "must be an image file" in capfd.readouterr().out


def test_a_file_uploaded_by_an_earlier_run_is_not_uploaded_again(clean_emulator, tmp_path):
    (tmp_path / "first.png").write_bytes(png(6000, 9))
    frame = f"file://{tmp_path}/first.png"
    first = run("inputs_first", first=frame)
    second = run("inputs_first", first=frame)  # another run, another task instance, the same file
    assert first.state == second.state == "success"
    assert clean_emulator.state.uploads()["uploads"] == 1
    [[earlier], [later]] = xcom_values(first, "generate", "evolink_inputs") + xcom_values(
        second, "generate", "evolink_inputs"
    )
    assert (earlier["reused"], later["reused"]) == (False, True)
    assert later["file_id"] == earlier["file_id"]
    posts = requests_to(clean_emulator, CREATE)
    assert [p["body"]["image_start"] for p in posts] == [earlier["url"]] * 2


def test_an_upload_deleted_elsewhere_is_uploaded_again(clean_emulator, tmp_path):
    (tmp_path / "first.png").write_bytes(png(6000, 10))
    frame = f"file://{tmp_path}/first.png"
    first = run("inputs_first", first=frame)
    [[earlier]] = xcom_values(first, "generate", "evolink_inputs")
    import requests

    assert requests.delete(
        f"{clean_emulator.base_url}/api/v1/files/{earlier['file_id']}",
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
        timeout=10,
    ).ok
    second = run("inputs_first", first=frame)
    assert second.state == "success"
    [[later]] = xcom_values(second, "generate", "evolink_inputs")
    assert later["reused"] is False and later["file_id"] != earlier["file_id"]
    assert clean_emulator.state.uploads()["uploads"] == 2

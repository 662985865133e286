"""Upload receipts in real Airflow (``dag.test()``): the upload id a task instance sends, and a lost
upload answer recovered with exactly one stored file. The client's other paths are in
tests/hooks/test_file_receipts.py."""

from __future__ import annotations

import hashlib
from typing import Any

import google_crc32c
import pytest

from airflow_evolink.hooks.files import upload_id_for
from tests.airflow_helpers import xcom_values
from tests.conftest import TEST_API_KEY
from tests.inputs.test_storage_inputs import CREATE, UPLOAD, png, requests_to, run, tries

pytestmark = pytest.mark.usefixtures("airflow_db")

RECEIPTS = "/api/v1/files/upload-receipts/"


def receipt_reads(emulator: Any) -> list[dict[str, Any]]:
    return [r for r in emulator.state.requests() if r["path"].startswith(RECEIPTS)]


def content_id(data: bytes) -> str:
    """What names a local file's content in its upload id: the SHA-256 of its CRC-32C and size (the
    fingerprint under which the task remembers the upload)."""
    fingerprint = f"crc32c:{google_crc32c.value(data):08x}:{len(data)}"
    return hashlib.sha256(fingerprint.encode()).hexdigest()


def test_a_lost_upload_answer_stores_one_file_and_the_post_uses_it(clean_emulator, tmp_path, capfd, caplog):
    data = png(6000, 21)
    (tmp_path / "first.png").write_bytes(data)
    clean_emulator.faults.lose_upload_answer("reset")  # stored, then the connection is dropped
    dag_run = run("inputs_first", first=f"file://{tmp_path}/first.png")
    assert dag_run.state == "success" and tries(dag_run) == 1
    held = clean_emulator.state.uploads()
    [stored] = held["files"]
    assert held["uploads"] == 1 and clean_emulator.state.uploaded_bytes(stored["file_id"]) == data
    assert [r["status"] for r in requests_to(clean_emulator, UPLOAD)] == [0]  # no second upload
    [read] = receipt_reads(clean_emulator)
    # The id names this task instance and these bytes (not the try).
    expected = upload_id_for(content_id(data), ("inputs_first", "generate", dag_run.run_id, -1))
    assert read["path"] == RECEIPTS + expected and held["upload_ids"] == [expected]
    [post] = requests_to(clean_emulator, CREATE)
    assert post["body"]["image_start"].endswith(f"/uploads/{stored['file_id']}/first.png")
    [[record]] = xcom_values(dag_run, "generate", "evolink_inputs")
    assert record["file_id"] == stored["file_id"]
    # The task's log reaches stdout or the log capture, depending on the Airflow version; Airflow 3.0's
    # own debug lines name the key when it registers it for masking, so only the upload's lines count.
    lines = [
        line
        for line in (capfd.readouterr().out + caplog.text).splitlines()
        if "receipt" in line or "/api/v1/files/" in line
    ]
    assert any("its receipt says done" in line for line in lines)
    assert not [line for line in lines if TEST_API_KEY in line]


def test_a_later_try_finds_the_earlier_tries_receipt(clean_emulator, tmp_path):
    data = png(5000, 22)
    (tmp_path / "first.png").write_bytes(data)
    # Stored, then 501: not retried within the try, so Airflow's second try takes over. It names the
    # same upload, reads its receipt, and uploads nothing.
    clean_emulator.faults.http_status(501, method="POST", path=UPLOAD, after_processing=True)
    dag_run = run("inputs_first", first=f"file://{tmp_path}/first.png")
    assert dag_run.state == "success" and tries(dag_run) == 2
    held = clean_emulator.state.uploads()
    [stored] = held["files"]
    [upload_id] = held["upload_ids"]  # one upload request, from try 1
    [read] = receipt_reads(clean_emulator)  # from try 2
    assert read["path"] == RECEIPTS + upload_id and read["status"] == 200
    [post] = requests_to(clean_emulator, CREATE)
    assert post["body"]["image_start"].endswith(f"/uploads/{stored['file_id']}/first.png")


def test_each_map_index_names_its_own_upload_of_the_same_file(clean_emulator, tmp_path):
    data = png(4000, 23)
    (tmp_path / "first.png").write_bytes(data)
    clean_emulator.faults.next_jobs_seconds(0.3, count=2)
    dag_run = run("inputs_mapped", first=f"file://{tmp_path}/first.png")
    assert dag_run.state == "success"
    held = clean_emulator.state.uploads()
    checksum = content_id(data)
    expected = [upload_id_for(checksum, ("inputs_mapped", "generate", dag_run.run_id, i)) for i in (0, 1)]
    # dag.test() may run the two instances in either order.
    assert sorted(held["upload_ids"]) == sorted(expected) and expected[0] != expected[1]
    assert held["uploads"] == held["deleted"] == 2

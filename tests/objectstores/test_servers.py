"""The object-store ground holds: Airflow's ObjectStoragePath reaches the real S3 and GCS servers through
the test connections, and what it writes is read back byte-exact directly from the servers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.airflow_helpers import dag_bag
from tests.objectstores.servers import GCS_CONN_ID, S3_CONN_ID, GCSServer, S3Server

TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"
PAYLOAD = bytes(range(256)) * 41 + b"\x00tail"


def test_s3_write_read_list_byte_exact(s3_server: S3Server) -> None:
    from airflow.sdk import ObjectStoragePath

    s3_server.create_bucket("smoke")
    path = ObjectStoragePath("s3://smoke/frames/a.bin", conn_id=S3_CONN_ID)
    path.write_bytes(PAYLOAD)
    assert path.read_bytes() == PAYLOAD
    assert [p.name for p in ObjectStoragePath("s3://smoke/frames/", conn_id=S3_CONN_ID).iterdir()] == [
        "a.bin"
    ]
    assert s3_server.list_keys("smoke") == ["frames/a.bin"]
    assert s3_server.read("smoke", "frames/a.bin") == PAYLOAD


def test_gcs_write_read_list_byte_exact(gcs_server: GCSServer) -> None:
    from airflow.sdk import ObjectStoragePath

    assert os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] == "false"
    gcs_server.create_bucket("smoke")
    path = ObjectStoragePath("gs://smoke/frames/a.bin", conn_id=GCS_CONN_ID)
    path.write_bytes(PAYLOAD)
    assert path.read_bytes() == PAYLOAD
    assert [p.name for p in ObjectStoragePath("gs://smoke/frames/", conn_id=GCS_CONN_ID).iterdir()] == [
        "a.bin"
    ]
    assert gcs_server.list_keys("smoke") == ["frames/a.bin"]
    assert gcs_server.read("smoke", "frames/a.bin") == PAYLOAD


def test_s3_multipart_upload_through_s3fs(s3_server: S3Server) -> None:
    from airflow.sdk import ObjectStoragePath

    s3_server.create_bucket("multipart")
    part = 5 * 1024 * 1024  # S3's smallest part but the last
    data = os.urandom(3 * part + 12345)
    path = ObjectStoragePath("s3://multipart/video.mp4", conn_id=S3_CONN_ID)
    with path.open("wb", block_size=part) as sink:
        for start in range(0, len(data), 1024 * 1024):
            sink.write(data[start : start + 1024 * 1024])
    head = s3_server.client().head_object(Bucket="multipart", Key="video.mp4")
    # A multipart upload's ETag ends in "-<number of parts>".
    assert head["ETag"].strip('"').endswith("-4")
    assert s3_server.read("multipart", "video.mp4") == data


@pytest.mark.usefixtures("airflow_db")
def test_dag_test_writes_to_both_stores(s3_server: S3Server, gcs_server: GCSServer) -> None:
    s3_server.create_bucket("dagrun")
    gcs_server.create_bucket("dagrun")
    params = {
        "s3_url": "s3://dagrun/out/video.bin",
        "s3_conn_id": S3_CONN_ID,
        "gcs_url": "gs://dagrun/out/video.bin",
        "gcs_conn_id": GCS_CONN_ID,
        "payload": "stored by a task",
    }
    run = dag_bag(TEST_DAGS).get_dag("objectstores_smoke").test(run_conf=params)
    assert run.state == "success"
    assert s3_server.read("dagrun", "out/video.bin") == b"stored by a task"
    assert gcs_server.read("dagrun", "out/video.bin") == b"stored by a task"

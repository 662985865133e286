"""The S3 example DAG (dags/example_evolink_s3.py) in real Airflow (``dag.test()``, its trigger inline)
against moto's S3 server and the emulator, pointed at them through its params as a user points it at a
bucket: frames read from S3 and uploaded once each, the video stored back to S3 byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.airflow_helpers import dag_bag, xcom_values
from tests.conftest import TEST_API_KEY
from tests.objectstores.servers import S3_CONN_ID, S3Server, request_text, s3_requests

pytestmark = pytest.mark.usefixtures("airflow_db")

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
BUCKET = "example-s3"
PREFIX = "campaign/2026"
PNG = b"\x89PNG\r\n\x1a\n"
FRAMES = {"first.png": PNG + b"\x01" * 4000, "last.png": PNG + b"\x02" * 3000}


def test_the_s3_example_reads_its_frames_from_s3_and_stores_the_video_there(
    clean_emulator: Any, s3_server: S3Server, tmp_path: Path
) -> None:
    s3_server.create_bucket(BUCKET)
    for name, data in FRAMES.items():
        s3_server.client().put_object(Bucket=BUCKET, Key=f"{PREFIX}/frames/{name}", Body=data)

    dag = dag_bag(DAGS_DIR).get_dag("example_evolink_s3")
    assert dag.params["aws_conn_id"] == "aws_default"
    with s3_requests(tmp_path) as to_s3:
        dag_run = dag.test(run_conf={"bucket": BUCKET, "prefix": PREFIX, "aws_conn_id": S3_CONN_ID})
    assert dag_run.state == "success"

    # The Evolink API key never reaches the store: not in a header, a URL or a body of any request moto
    # received during the run (frames read, video written), and those requests were recorded.
    assert {r["method"] for r in to_s3} >= {"GET", "PUT"}
    assert not [r["url"] for r in to_s3 if TEST_API_KEY in request_text(r)]

    # Each frame was read from S3 and uploaded to the file service once, byte for byte.
    [records] = xcom_values(dag_run, "generate_video", "evolink_inputs")
    source = f"s3://{S3_CONN_ID}@{BUCKET}/{PREFIX}/frames"
    assert [(r["field"], r["source"]) for r in records] == [
        ("image_start", f"{source}/first.png"),
        ("image_end", f"{source}/last.png"),
    ]
    [post] = [r for r in clean_emulator.state.requests() if r["path"] == "/v1/videos/generations"]
    assert [post["body"]["image_start"], post["body"]["image_end"]] == [r["url"] for r in records]
    held = clean_emulator.state.uploads()
    assert held["uploads"] == 2 and held["deleted"] == 2  # cleanup_uploads=True

    # The video is in the bucket under videos/<run_id>/, as the emulator served it.
    [task_id] = xcom_values(dag_run, "generate_video")
    key = f"{PREFIX}/videos/{dag_run.run_id}/{task_id}.mp4"
    assert s3_server.list_keys(BUCKET, f"{PREFIX}/videos/") == [key]
    import requests

    served = requests.get(f"{clean_emulator.base_url}/files/{task_id}.mp4", timeout=10).content
    assert s3_server.read(BUCKET, key) == served
    [[saved]] = xcom_values(dag_run, "store_video", "downloads")
    assert saved["path"] == f"s3://{S3_CONN_ID}@{BUCKET}/{key}" and saved["size"] == len(served)

"""A DAG for tests/objectstores/test_lineage_objectstores.py: frames read from S3 and GCS, the video stored to
S3 (by the submit operator) and to GCS (by the download operator), all through the test connections
written before the bucket (``s3://evolink_test_s3@bucket/...``). Not an example."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_evolink.operators.evolink import EvolinkDownloadVideoOperator, EvolinkSubmitVideoOperator

S3 = "s3://evolink_test_s3@{{ params.bucket }}"
GCS = "gs://evolink_test_gcs@{{ params.bucket }}"

with DAG(
    "lineage_objectstores",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink-tests"],
    params={"bucket": "lineage"},
):
    generate = EvolinkSubmitVideoOperator(
        task_id="generate",
        model="kling-v3-image-to-video",
        prompt="a lineage test through object stores",
        image_start=S3 + "/frames/first.png",
        image_end=GCS + "/frames/last.png",
        duration=5,
        input_mode="upload",
        wait_for_completion=True,
        poll_interval=0.5,
        download_to=S3 + "/videos/{{ run_id }}",
        retries=0,
    )
    EvolinkDownloadVideoOperator(
        task_id="save",
        evolink_task_id=generate.output,
        destination=GCS + "/videos/{{ run_id }}",
        retries=0,
    )
    # Presign mode: the request carries a signed URL (signature in the query); lineage must not.
    EvolinkSubmitVideoOperator(
        task_id="presigned",
        model="kling-v3-image-to-video",
        prompt="a lineage test with a presigned frame",
        image_start=S3 + "/frames/first.png",
        duration=5,
        input_mode="presign",
        retries=0,
    )

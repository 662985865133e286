"""A DAG for tests/objectstores/test_outputs*.py: a large result video stored on S3 by the submit
operator's ``download_to`` and on GCS by the download operator's ``destination``, each a URL naming its
Airflow connection (``s3://<conn id>@bucket/...``) as a user writes one. Not an example."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_evolink.operators.evolink import EvolinkDownloadVideoOperator, EvolinkSubmitVideoOperator

with DAG(
    "objectstore_outputs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink-tests"],
    params={"evolink_conn_id": "", "s3_destination": "", "gcs_destination": ""},
):
    generate = EvolinkSubmitVideoOperator(
        task_id="generate",
        evolink_conn_id="{{ params.evolink_conn_id }}",
        model="kling-v3-image-to-video",
        prompt="a large video for object stores",
        image_start="https://images.example.com/frames/first.png",
        wait_for_completion=True,
        poll_interval=0.2,
        download_to="{{ params.s3_destination }}",
        retries=0,
    )
    EvolinkDownloadVideoOperator(
        task_id="save_to_gcs",
        evolink_conn_id="{{ params.evolink_conn_id }}",
        evolink_task_id=generate.output,
        destination="{{ params.gcs_destination }}",
        outlets=[],
        retries=0,
    )

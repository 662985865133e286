"""Small DAGs for the OpenLineage tests (tests/lineage). Not examples: each pins what lineage shows."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_evolink.operators.evolink import EvolinkDownloadVideoOperator, EvolinkSubmitVideoOperator

START = datetime(2026, 1, 1)
#: An input URL as a presigned link has it: the signature is in the query string.
FIRST_FRAME = "https://images.example.com/frames/first.png?X-Amz-Signature=sig-0d4c2b&X-Amz-Expires=600"
LAST_FRAME = "https://images.example.com/frames/last.png"
DESTINATION = "{{ dag_run.conf['destination'] }}"
REQUEST = {
    "model": "kling-v3-image-to-video",
    "prompt": "a lineage test",
    "image_start": FIRST_FRAME,
    "image_end": LAST_FRAME,
    "duration": 5,
    "quality": "720p",
}

with DAG("lineage_wait_and_save", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    generate = EvolinkSubmitVideoOperator(
        task_id="generate",
        wait_for_completion=True,
        poll_interval=0.5,
        download_to=DESTINATION + "/generated",
        retries=0,
        **REQUEST,
    )
    EvolinkDownloadVideoOperator(
        task_id="save",
        evolink_task_id=generate.output,
        destination=DESTINATION + "/saved",
        outlets=[],
        retries=0,
    )

with DAG("lineage_deferred", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    EvolinkSubmitVideoOperator(
        task_id="generate",
        wait_for_completion=True,
        deferrable=True,
        poll_interval=0.5,
        download_to=DESTINATION,
        retries=0,
        **REQUEST,
    )

with DAG("lineage_failed", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    EvolinkSubmitVideoOperator(
        task_id="generate",
        wait_for_completion=True,
        poll_interval=0.5,
        retries=0,
        retry_delay=timedelta(seconds=0),
        **REQUEST,
    )

"""DAGs for tests/objectstores/test_inputs*.py: frames in S3 (moto) and GCS (gcp-storage-emulator), given
as templated storage URLs that name their Airflow connection (``s3://<conn_id>@bucket/key``), uploaded to
the file service or presigned."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator

BASE: dict[str, Any] = {
    "model": "kling-v3-image-to-video",
    "prompt": "from the bucket",
    "image_start": "{{ params.first }}",
    "retries": 1,
    "retry_delay": timedelta(0),
    "poll_interval": 0.2,
}

VARIANTS: dict[str, dict[str, Any]] = {
    # Both frames uploaded to the file service; the paid POST only (no wait).
    "objectstore_inputs_upload": {"image_end": "{{ params.last }}"},
    # Presigned by the frame's own store; the paid POST only (the emulator fetches the URL as it creates
    # the task, so whether it could read it shows in the task's final status at once).
    "objectstore_inputs_presign_submit": {"input_mode": "presign"},
    # The same, waiting for the generation: an unreadable input fails the Airflow task.
    "objectstore_inputs_presign": {"input_mode": "presign", "wait_for_completion": True},
}

for dag_id, variant in VARIANTS.items():
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["evolink-tests"],
        params={"first": "https://example.com/first.png", "last": "https://example.com/last.png"},
    ):
        EvolinkSubmitVideoOperator(task_id="generate", **{**BASE, **variant})

"""Frames from storage: the first and last frame are files in a data lake folder, not public URLs.

``frames`` (a param, templated into the paths) may be any storage URL Airflow can read: ``file://``,
``s3://bucket/prefix`` (with the Amazon provider), ``gs://`` (Google) ... Before the paid POST the operator
uploads each frame to Evolink's file service and sends its ``file_url`` (``input_mode="upload"``, the
default; ``"presign"`` would send a presigned URL of an S3 or GCS bucket instead). ``cleanup_uploads``
deletes the uploads once the video is done. XCom ``evolink_inputs`` records which path became which URL.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator

with DAG(
    dag_id="example_evolink_storage_inputs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink", "example"],
    params={"frames": "file:///tmp/evolink-frames"},
    doc_md=__doc__,
):
    EvolinkSubmitVideoOperator(
        task_id="generate_video",
        model="kling-v3-image-to-video",
        prompt="The sun rises over the harbour, boats leave one by one",
        image_start="{{ params.frames }}/first.png",
        image_end="{{ params.frames }}/last.png",
        duration=5,
        input_mode="upload",
        wait_for_completion=True,
        cleanup_uploads=True,
        poll_interval=1,
    )

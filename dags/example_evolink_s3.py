"""Frames in from S3, videos out to S3: the data lake round trip.

The first and last frame are objects under ``s3://<bucket>/<prefix>/frames/``; the finished video is
stored under ``s3://<bucket>/<prefix>/videos/<run_id>/``. Both go through Airflow's ObjectStoragePath and
the ``aws`` connection named in params (``aws_conn_id``, default ``aws_default``), written before the
bucket as ``s3://<conn_id>@<bucket>/...``, which is how ObjectStoragePath takes a connection id from a URL.

Needs the Amazon provider with s3fs: ``pip install 'airflow-provider-evolink[s3]'``. The connection's role
needs ``s3:GetObject`` on the frames (``s3:ListBucket`` on the bucket lets a missing frame be reported as
missing rather than as access denied) and ``s3:PutObject`` and ``s3:AbortMultipartUpload`` on the videos
folder (a video is written as a multipart upload, aborted if the copy fails, so no partial object stays).

``input_mode="upload"`` streams each frame to Evolink's file service before the paid POST, so the bucket
stays private to Evolink. ``"presign"`` sends a presigned URL (valid 6 hours) instead: no upload, but
Evolink fetches from the bucket, so the presigned link is the credential. The README ("Object stores")
says how to point this DAG at a real bucket.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG

from airflow_evolink.operators.evolink import EvolinkDownloadVideoOperator, EvolinkSubmitVideoOperator

BUCKET = "s3://{{ params.aws_conn_id }}@{{ params.bucket }}/{{ params.prefix }}"

with DAG(
    dag_id="example_evolink_s3",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink", "example"],
    params={"bucket": "my-evolink-bucket", "prefix": "evolink", "aws_conn_id": "aws_default"},
    doc_md=__doc__,
):
    generate = EvolinkSubmitVideoOperator(
        task_id="generate_video",
        model="kling-v3-image-to-video",
        prompt="The tide comes in over the sand bar, gulls lift off as the water reaches them",
        image_start=f"{BUCKET}/frames/first.png",
        image_end=f"{BUCKET}/frames/last.png",
        duration=5,
        input_mode="upload",
        wait_for_completion=True,
        deferrable=True,
        cleanup_uploads=True,
        poll_interval=1,
    )
    EvolinkDownloadVideoOperator(
        task_id="store_video",
        evolink_task_id=generate.output,
        destination=BUCKET + "/videos/{{ run_id }}",
    )

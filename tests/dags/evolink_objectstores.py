"""A tiny DAG for tests/objectstores: one task writes to s3:// and gs:// through ObjectStoragePath and the
Airflow connections a user would configure, so the object-store fixtures are proven under dag.test()."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, ObjectStoragePath, task


@task
def write_both(s3_url: str, s3_conn_id: str, gcs_url: str, gcs_conn_id: str, payload: str) -> None:
    for url, conn_id in ((s3_url, s3_conn_id), (gcs_url, gcs_conn_id)):
        ObjectStoragePath(url, conn_id=conn_id).write_bytes(payload.encode())


with DAG(
    "objectstores_smoke",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink-tests"],
    params={"s3_url": "", "s3_conn_id": "", "gcs_url": "", "gcs_conn_id": "", "payload": ""},
):
    write_both(
        "{{ params.s3_url }}",
        "{{ params.s3_conn_id }}",
        "{{ params.gcs_url }}",
        "{{ params.gcs_conn_id }}",
        "{{ params.payload }}",
    )

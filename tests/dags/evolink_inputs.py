"""Small DAGs for the storage-input tests (tests/inputs): frames given as templated storage paths."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator

BASE: dict[str, Any] = {"model": "kling-v3-image-to-video", "prompt": "from the lake"}
FIRST = {"image_start": "{{ params.first }}"}

VARIANTS: dict[str, dict[str, Any]] = {
    "inputs_frames": {**FIRST, "image_end": "{{ params.last }}"},
    "inputs_first": {**FIRST, "retries": 1},
    "inputs_presign": {**FIRST, "retries": 1, "input_mode": "presign"},
    "inputs_cleanup": {**FIRST, "wait_for_completion": True, "cleanup_uploads": True},
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
        EvolinkSubmitVideoOperator(
            task_id="generate",
            retries=variant.pop("retries", 0),
            retry_delay=timedelta(0),
            poll_interval=0.5,
            **{**BASE, **variant},
        )

# Two map indexes, one frame: each instance uploads it under its own upload id (cleanup_uploads lets the
# second upload rather than reuse the first's file).
with DAG(
    "inputs_mapped",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink-tests"],
    params={"first": "https://example.com/first.png"},
):
    EvolinkSubmitVideoOperator.partial(
        task_id="generate",
        retries=0,
        poll_interval=0.2,
        wait_for_completion=True,
        cleanup_uploads=True,
        model=BASE["model"],
        **FIRST,
    ).expand(prompt=["from the lake", "from the hill"])

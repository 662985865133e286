"""Small DAGs for the failure-semantics tests (tests/operators). Not examples: each pins one behaviour."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator
from airflow_evolink.sensors.evolink import EvolinkVideoSensor

KLING: dict[str, Any] = {
    "model": "kling-v3-image-to-video",
    "prompt": "a test",
    "image_start": "https://example.com/a.png",
}
START = datetime(2026, 1, 1)
NO_DELAY = timedelta(seconds=0)

SUBMIT_VARIANTS: dict[str, dict[str, Any]] = {
    "sem_wait_sync": {"wait_for_completion": True},
    "sem_wait_sync_retry_once": {"wait_for_completion": True, "retries": 1},
    "sem_wait_deferred": {"wait_for_completion": True, "deferrable": True},
    # Through the tests' connection whose extra ``retry`` gives up after two sends (tests/conftest.py).
    "sem_submit_only": {"evolink_conn_id": "evolink_fast_retries"},
    "sem_bad_template": {"duration": "{{ 40 + 2 }}"},
    "sem_budget": {"min_credits": 5000},
}

for dag_id, variant in SUBMIT_VARIANTS.items():
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
        EvolinkSubmitVideoOperator(
            task_id="generate",
            retries=variant.pop("retries", 2),
            retry_delay=NO_DELAY,
            poll_interval=0.5,
            **{**KLING, **variant},
        )

for dag_id, deferrable, timeout in (
    ("sem_sensor_poke", False, 7200.0),
    ("sem_sensor_deferred", True, 7200.0),
    ("sem_sensor_poke_short", False, 4.0),
    ("sem_sensor_deferred_short", True, 4.0),
):
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
        submit = EvolinkSubmitVideoOperator(task_id="submit", **KLING)
        EvolinkVideoSensor(
            task_id="wait",
            evolink_task_id=submit.output,
            deferrable=deferrable,
            poll_interval=0.5,
            timeout=timeout,
            retries=0 if timeout < 60 else 2,
            retry_delay=NO_DELAY,
        )

# For the e2e crash test: a synchronous submit-and-wait whose worker is killed after the POST.
with DAG("sem_resumable", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    EvolinkSubmitVideoOperator(
        task_id="generate",
        retries=1,
        retry_delay=NO_DELAY,
        poll_interval=1.0,
        wait_for_completion=True,
        **KLING,
    )

# Requests the API accepts (spec snapshot 79a6b56a) that earlier rule tables refused before sending.
IMAGE = "https://example.com/frame.png"
SPEC_REQUESTS: dict[str, dict[str, Any]] = {
    "kling_v3_4k": {
        "model": "kling-v3-image-to-video",
        "prompt": "a test",
        "image_start": IMAGE,
        "quality": "4k",
    },
    "kling_o3_t2v_4k": {"model": "kling-o3-text-to-video", "prompt": "a test", "quality": "4k"},
    "veo_preview_4k": {"model": "veo-3.1-generate-preview", "prompt": "a test", "quality": "4k"},
    "kling_o1_image_urls": {
        "model": "kling-o1-image-to-video",
        "prompt": "a test",
        "image_urls": [IMAGE, "https://example.com/last.png"],
        "duration": 5,
    },
    "wan26_7s": {"model": "wan2.6-image-to-video", "prompt": "a test", "image_urls": [IMAGE], "duration": 7},
    "seedance25_many_images": {
        "model": "seedance-2.5-reference-to-video",
        "prompt": "a test",
        "image_urls": [f"https://example.com/ref{i}.png" for i in range(5)],
    },
    "wan25_long_prompt": {"model": "wan2.5-text-to-video", "prompt": "p" * 1800},
}
with DAG("sem_spec_requests", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    for task_id, fields in SPEC_REQUESTS.items():
        EvolinkSubmitVideoOperator(task_id=task_id, retries=0, **fields)

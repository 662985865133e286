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
    "sem_submit_only": {},
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

for dag_id, deferrable in (("sem_sensor_poke", False), ("sem_sensor_deferred", True)):
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
        submit = EvolinkSubmitVideoOperator(task_id="submit", **KLING)
        EvolinkVideoSensor(
            task_id="wait",
            evolink_task_id=submit.output,
            deferrable=deferrable,
            poll_interval=0.5,
            retries=2,
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

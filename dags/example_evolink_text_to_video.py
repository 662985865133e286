"""Text to video with Seedance 2.0, in one task that submits and waits in the triggerer.

Fields this provider does not name (``generate_audio`` here) go through ``extra`` untouched, so any
Evolink video model and any of its options can be used.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator

with DAG(
    dag_id="example_evolink_text_to_video",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink", "example"],
    doc_md=__doc__,
) as dag:
    generate = EvolinkSubmitVideoOperator(
        task_id="generate_video",
        model="seedance-2.0-text-to-video",
        prompt="A paper boat drifting down a rainy street, cinematic",
        duration=5,
        quality="720p",
        aspect_ratio="16:9",
        extra={"generate_audio": False},
        wait_for_completion=True,
        deferrable=True,
    )

    @task
    def report(ti=None) -> list[str]:
        urls = ti.xcom_pull(task_ids="generate_video", key="result_urls")
        print(f"Seedance video: {urls}")
        return urls

    generate >> report()

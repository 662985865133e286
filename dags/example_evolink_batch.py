"""A batch of videos: one mapped submission per prompt and image, throttled by an Airflow pool.

Create the pool once (``airflow pools set evolink_submissions 4 "Evolink submissions"``): it caps how many
submissions run at once, whatever the size of the batch. Each video is then awaited in the triggerer.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, task

from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator
from airflow_evolink.sensors.evolink import EvolinkVideoSensor

SUBMISSION_POOL = "evolink_submissions"

with DAG(
    dag_id="example_evolink_batch",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def list_shots() -> list[dict[str, str]]:
        """In a real pipeline this reads a table or a bucket; each item becomes one video."""
        return [
            {
                "prompt": "A lighthouse at dawn, waves rolling in",
                "image_start": "https://example.com/lighthouse.jpg",
            },
            {
                "prompt": "A cat stretching on a sunny windowsill",
                "image_start": "https://example.com/cat.png",
            },
            {"prompt": "City traffic at night, long exposure", "image_start": "https://example.com/city.jpg"},
        ]

    submit = EvolinkSubmitVideoOperator.partial(
        task_id="submit_video",
        model="kling-v3-image-to-video",
        duration=5,
        pool=SUBMISSION_POOL,
    ).expand_kwargs(list_shots())

    wait = EvolinkVideoSensor.partial(task_id="wait_for_video").expand(evolink_task_id=submit.output)

    @task
    def summarize(results: list[list[str]]) -> dict[str, int]:
        urls = [url for batch in results for url in batch]
        print(f"{len(urls)} videos ready")
        return {"videos": len(urls)}

    summarize(wait.output)

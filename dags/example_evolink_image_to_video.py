"""Image to video with Kling: submit, wait in the triggerer, then use the result URLs.

Set the ``evolink_default`` connection to the real API (host ``https://api.evolink.ai``, password = your
key) or to the bundled emulator (host ``http://127.0.0.1:8099``, any password) and trigger the DAG.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator
from airflow_evolink.sensors.evolink import EvolinkVideoSensor

with DAG(
    dag_id="example_evolink_image_to_video",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink", "example"],
    params={
        "prompt": "The person in the scene slowly turns their head and smiles",
        "image_start": "https://example.com/portrait.jpg",
    },
    doc_md=__doc__,
) as dag:
    submit = EvolinkSubmitVideoOperator(
        task_id="submit_video",
        model="kling-v3-image-to-video",
        prompt="{{ params.prompt }}",
        image_start="{{ params.image_start }}",
        duration=5,
        quality="720p",
        sound="off",
    )

    wait = EvolinkVideoSensor(
        task_id="wait_for_video",
        evolink_task_id=submit.output,
        timeout=timedelta(minutes=30).total_seconds(),
    )

    @task
    def use_videos(urls: list[str]) -> int:
        """Stand-in for the real consumer: publish, transcode, or copy the videos before the links expire."""
        for url in urls:
            print(f"Evolink result video: {url}")
        return len(urls)

    use_videos(wait.output)

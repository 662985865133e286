"""A batch of videos: one mapped submission per prompt and image, at most four submitting at once.

``max_active_tis_per_dag`` caps the submissions running at once across all runs of this DAG, whatever the
size of the batch, and needs nothing created first (a shared pool works too: pass ``pool=``, after
``airflow pools set evolink_submissions 4 "Evolink submissions"``, to share the cap between DAGs). Each
video is then awaited in the triggerer. In the UI each mapped instance is named by its prompt. The run
ends with what it cost: credits per model, per task and in total, added up from XCom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator
from airflow_evolink.sensors.evolink import EvolinkVideoSensor
from airflow_evolink.utils.costs import run_cost_summary

MAX_SUBMITTING = 4
#: How each mapped instance is listed in the UI: its prompt, shortened, instead of 0, 1, 2.
BY_PROMPT = "{{ task.prompt | truncate(48, end='...') }}"

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
        max_active_tis_per_dag=MAX_SUBMITTING,
        map_index_template=BY_PROMPT,
    ).expand_kwargs(list_shots())

    wait = EvolinkVideoSensor.partial(
        task_id="wait_for_video", map_index_template="{{ task.evolink_task_id }}"
    ).expand(evolink_task_id=submit.output)

    @task
    def summarize(results: list[list[str]]) -> dict[str, int]:
        urls = [url for batch in results for url in batch]
        print(f"{len(urls)} videos ready")
        return {"videos": len(urls)}

    @task
    def cost_summary(ti: Any = None) -> dict[str, Any]:
        """What this run cost, from each generation's evolink_task XCom (every map index)."""
        costs = run_cost_summary(ti, ["submit_video", "wait_for_video"])
        print(
            f"{costs['generations']} generations, {costs['total_credits']:,.0f} credits "
            f"(~${costs['total_usd']:,.2f}); per model: {costs['per_model']}"
        )
        return costs

    summarize(wait.output) >> cost_summary()

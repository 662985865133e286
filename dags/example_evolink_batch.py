"""A batch of videos, planned within its budget: one mapped submission per approved shot, four at a time.

``plan_budget`` prices every shot from Evolink's published pricing rules before anything is paid for, and
approves the batch only if it fits ``params.budget_usd`` (policy ``"fail"``: nothing is submitted
otherwise; ``"fit"`` keeps the shots in order while they fit). The mapped submit expands over the approved
list, and each submit refuses its shot if the price changed since planning.

``max_active_tis_per_dag`` caps the submissions running at once across all runs of this DAG, whatever the
size of the batch, and needs nothing created first (a shared pool works too: pass ``pool=``, after
``airflow pools set evolink_submissions 4 "Evolink submissions"``, to share the cap between DAGs). Each
video is then awaited in the triggerer. In the UI each mapped instance is named by its prompt. The run
ends with what it cost: credits per model, per task and in total, added up from XCom.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_evolink.operators.evolink import EvolinkPlanBudgetOperator, EvolinkSubmitVideoOperator
from airflow_evolink.sensors.evolink import EvolinkVideoSensor
from airflow_evolink.utils.costs import describe_summary, run_cost_summary

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
    params={
        "budget_usd": Param(2.0, type="number", exclusiveMinimum=0, description="Budget of the run, USD")
    },
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

    plan = EvolinkPlanBudgetOperator(
        task_id="plan_budget",
        requests=list_shots(),
        defaults={"model": "kling-v3-image-to-video", "duration": 5},
        budget_usd="{{ params.budget_usd }}",
        policy="fail",
    )

    # Each item is a shot with the defaults and its planned_cost_uc, the price its submit re-checks.
    submit = EvolinkSubmitVideoOperator.partial(
        task_id="submit_video",
        max_active_tis_per_dag=MAX_SUBMITTING,
        map_index_template=BY_PROMPT,
    ).expand_kwargs(plan.output)

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
        """What this run cost: the charges Evolink reports, estimates where nothing is charged yet."""
        costs = run_cost_summary(ti, ["submit_video", "wait_for_video"])
        print(describe_summary(costs))
        return costs

    summarize(wait.output) >> cost_summary()

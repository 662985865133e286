"""Small DAGs for the money tests (tests/operators/test_costs_before_paying.py): caps, plans, no price.

The requests and their exact prices are the emulator's published price table
(:mod:`airflow_evolink.emulator.pricing`): one request per rule feature.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_evolink.operators.evolink import EvolinkPlanBudgetOperator, EvolinkSubmitVideoOperator

START = datetime(2026, 1, 1)
IMAGE = "https://example.com/frame.png"

#: feature -> (request, its exact price in UC by the emulator's published rules)
PRICED: dict[str, tuple[dict[str, Any], int]] = {
    "tier": (
        {
            "model": "kling-v3-image-to-video",
            "prompt": "a test",
            "image_start": IMAGE,
            "duration": 5,
            "quality": "1080p",
            "sound": "on",
        },
        540_000,
    ),
    "lookup": ({"model": "sora-2-preview", "prompt": "a test", "duration": 8}, 140_000),
    "half_up": ({"model": "seedance-2.0-text-to-video", "prompt": "a test", "duration": 5}, 36_753),
    "ceil": ({"model": "happyhorse-1.0-text-to-video", "prompt": "a test", "duration": 5}, 80_000),
    "minimum": ({"model": "grok-imagine-video-1.0-t2v", "prompt": "a test", "duration": 3}, 50_000),
}
#: The 5 s 720p kling-v3 clip: 27 credits, Evolink's published price.
CLIP: dict[str, Any] = {
    "model": "kling-v3-image-to-video",
    "prompt": "a test",
    "image_start": IMAGE,
    "duration": 5,
}
CLIP_UC = 270_000

#: The tests' connection to the emulator whose extra ``retry`` gives up after two sends (tests/conftest.py):
#: a try meant to fail on a faulted read fails in a fraction of a second, not after the default backoff.
FAST_RETRIES = {"evolink_conn_id": "evolink_fast_retries"}

for feature, (request, _) in PRICED.items():
    with DAG(
        f"money_cap_{feature}",
        schedule=None,
        start_date=START,
        catchup=False,
        tags=["evolink-tests"],
        params={"cap_credits": "1000"},
    ):
        # retries=2: a refusal must not be retried.
        EvolinkSubmitVideoOperator(
            task_id="generate",
            retries=2,
            retry_delay=timedelta(0),
            max_credits="{{ params.cap_credits }}",
            **request,
        )

# A cap in dollars; a request with no cap (priced for the log only); a partial estimate under a cap.
# (Fast retries: the tests fault the pricing routes with 503s for these two.)
for dag_id, extra in (
    ("money_cap_usd", {"max_cost_usd": "{{ params.cap_usd }}"}),
    ("money_uncapped", {}),
):
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        tags=["evolink-tests"],
        params={"cap_usd": "1"},
    ):
        EvolinkSubmitVideoOperator(
            task_id="generate", retries=2, retry_delay=timedelta(0), **FAST_RETRIES, **CLIP, **extra
        )

for dag_id, allow in (("money_partial_refused", False), ("money_partial_allowed", True)):
    with DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
        EvolinkSubmitVideoOperator(
            task_id="generate",
            model="wan2.6-text-to-video",
            prompt="a test",
            duration=5,
            max_credits=1000,
            allow_partial_estimate=allow,
        )

# A batch of 10 clips planned within a budget for 6 (6 x 27 credits), in either policy.
BATCH = [{"prompt": f"shot {i}", "image_start": IMAGE} for i in range(10)]
for policy in ("fit", "fail"):
    with DAG(
        f"money_batch_{policy}",
        schedule=None,
        start_date=START,
        catchup=False,
        tags=["evolink-tests"],
        params={"budget_credits": 162},
    ):
        plan = EvolinkPlanBudgetOperator(
            task_id="plan",
            requests=BATCH,
            defaults={"model": CLIP["model"], "duration": 5},
            budget_credits="{{ params.budget_credits }}",
            policy=policy,
        )
        EvolinkSubmitVideoOperator.partial(
            task_id="submit", retries=1, retry_delay=timedelta(0)
        ).expand_kwargs(plan.output)

# A plan whose figure no longer matches the price when the submit runs (altered in between).
with DAG("money_price_changed", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    plan = EvolinkPlanBudgetOperator(task_id="plan", requests=[CLIP, CLIP], budget_usd=5, policy="fail")

    @task
    def reprice(approved: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The second item as if planned when the price was one UC lower."""
        return [approved[0], {**approved[1], "planned_cost_uc": approved[1]["planned_cost_uc"] - 1}]

    EvolinkSubmitVideoOperator.partial(task_id="submit", retries=1, retry_delay=timedelta(0)).expand_kwargs(
        reprice(plan.output)
    )

# A try that fails before its checks pass (the balance read) paid for nothing: the next try checks again.
with DAG("money_checks_retried", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    EvolinkSubmitVideoOperator(
        task_id="generate",
        retries=1,
        retry_delay=timedelta(0),
        min_credits=1,
        max_credits=1000,
        **FAST_RETRIES,
        **CLIP,
    )

# A try that fails before any POST (the balance read), then a later try whose cap is below the price
# (the cap renders per try): the later try must be refused before paying, with or without a state store.
with DAG("money_cap_on_retry", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    EvolinkSubmitVideoOperator(
        task_id="generate",
        retries=1,
        retry_delay=timedelta(0),
        min_credits=1,
        max_credits="{{ '1000' if ti.try_number == 1 else '1' }}",
        **FAST_RETRIES,
        **CLIP,
    )

# A plan figure from a template (as a DAG author may wire it by hand): rendering to "" must not drop it.
with DAG(
    "money_planned_templated",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["evolink-tests"],
    params={"planned": str(CLIP_UC)},
):
    EvolinkSubmitVideoOperator(
        task_id="generate",
        retries=2,
        retry_delay=timedelta(0),
        planned_cost_uc="{{ params.planned }}",
        **CLIP,
    )

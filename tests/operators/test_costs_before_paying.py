"""Caps and plans in real Airflow (``dag.test()``) against the emulator's published pricing rules.

The emulator bills what its rules say, so the estimate the provider makes from them is the exact price:
a cap half a UC above it lets the request through, half a UC below refuses it before any POST. The DAGs
live in tests/dags/evolink_money.py.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from airflow_evolink.operators.resumable import HAS_TASK_STATE_STORE
from airflow_evolink.utils import xcom_keys
from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS
from tests.airflow_helpers import dag_bag, xcom_values
from tests.conftest import FAST_RETRIES, TEST_API_KEY
from tests.dags.evolink_money import CLIP_UC, PRICED

pytestmark = pytest.mark.usefixtures("airflow_db")

TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"
HALF_UC = Decimal("0.5")
#: Sends of one read through the DAGs' fast-retrying connection (``money_checks_retried``, ``money_cap_on_retry``).
FAST_ATTEMPTS = FAST_RETRIES["max_attempts"]


@functools.cache
def _bag() -> Any:
    return dag_bag(TEST_DAGS)


def run_dag(dag_id: str, **conf: Any) -> Any:
    return _bag().get_dag(dag_id).test(run_conf=conf or None)


def posts(emulator: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in emulator.state.requests()
        if r["method"] == "POST" and r["path"] == "/v1/videos/generations"
    ]


@pytest.fixture
def task_logs(capfd: Any, caplog: Any) -> Any:
    """Reads what the tasks logged since the last read: stdout, stderr or Python logging, as the Airflow
    version sends it."""

    def read() -> list[str]:
        captured = capfd.readouterr()
        text = "\n".join((captured.out, captured.err, caplog.text))
        caplog.clear()
        return text.splitlines()

    return read


def tries(dag_run: Any, task_id: str = "generate") -> int:
    return int(dag_run.get_task_instance(task_id).try_number)


def credits(uc: Decimal) -> str:
    """A cap in credits, exact: 270,000.5 UC is 27.00005 credits."""
    return format(uc / 10_000, "f")


@pytest.fixture
def priced_emulator(clean_emulator: Any) -> Any:
    """The emulator with its pricing routes answering, and no rules cached from an earlier test."""
    from airflow_evolink.pricing.cache import clear_pricing_cache

    clear_pricing_cache()
    clean_emulator.state.set_pricing_routes(200)
    yield clean_emulator
    clean_emulator.state.set_pricing_routes(200)
    clear_pricing_cache()


@pytest.mark.parametrize("feature", sorted(PRICED))
def test_a_cap_half_a_uc_above_the_price_is_sent_and_half_below_is_refused(priced_emulator, feature):
    _, price = PRICED[feature]
    dag_id = f"money_cap_{feature}"

    above = run_dag(dag_id, cap_credits=credits(price + HALF_UC))
    assert above.state == "success"
    assert len(posts(priced_emulator)) == 1
    [estimate] = xcom_values(above, "generate", xcom_keys.EVOLINK_ESTIMATE)
    assert estimate["uc"] == price and estimate["status"] == "estimated"
    # What the emulator billed for it is the estimate.
    [job] = priced_emulator.state.tasks()
    assert Decimal(str(priced_emulator.state.credits()["data"]["user"]["used_credits"])) * 10_000 == price, (
        job
    )

    priced_emulator.state.reset()
    below = run_dag(dag_id, cap_credits=credits(price - HALF_UC))
    assert below.state == "failed"
    assert tries(below) == 1  # not retried
    assert posts(priced_emulator) == []
    [estimate] = xcom_values(below, "generate", xcom_keys.EVOLINK_ESTIMATE)
    assert estimate["uc"] == price


def test_a_dollar_cap_holds_at_the_published_price(priced_emulator, task_logs):
    # The 5 s 720p kling-v3 clip is 270,000 UC ($0.397...): $0.40 is 272,000 UC, $0.39 is 265,200 UC.
    assert run_dag("money_cap_usd", cap_usd="0.40").state == "success"
    assert len(posts(priced_emulator)) == 1
    priced_emulator.state.reset()
    refused = run_dag("money_cap_usd", cap_usd="0.39")
    assert refused.state == "failed" and posts(priced_emulator) == []
    if not AIRFLOW_V_3_1_PLUS:
        return  # dag.test() on 3.0 logs the failure without its message; the unit tests read it there
    # The message names the estimate, the cap and what decided the price (the tier and the seconds).
    [message] = [line for line in task_logs() if "is above the cap" in line][-1:]
    assert "27 credits (270,000 UC, ~$0.40)" in message
    assert "max_cost_usd=0.39 (265,200 UC)" in message
    assert "5 second" in message


def test_an_uncapped_request_is_priced_for_the_log_and_sent(priced_emulator, task_logs):
    dag_run = run_dag("money_uncapped")
    assert dag_run.state == "success" and len(posts(priced_emulator)) == 1
    [estimate] = xcom_values(dag_run, "generate", xcom_keys.EVOLINK_ESTIMATE)
    assert estimate["uc"] == CLIP_UC and estimate["evolink_task_id"] == posts(priced_emulator)[0]["task_id"]
    assert TEST_API_KEY not in str(estimate)
    # One line (Airflow 3.0 prints each line through more than one handler: count distinct messages).
    lines = {
        line.split("Estimate before paying")[1] for line in task_logs() if "Estimate before paying" in line
    }
    assert len(lines) == 1 and "27 credits (270,000 UC, ~$0.40)" in lines.pop()


@pytest.mark.parametrize("status", [404, 503])
def test_without_readable_prices_capped_requests_are_refused_and_uncapped_sent(
    priced_emulator, status, task_logs
):
    priced_emulator.state.set_pricing_routes(status)
    capped = run_dag("money_cap_usd", cap_usd="100")
    assert capped.state == "failed" and tries(capped) == 1
    assert posts(priced_emulator) == []
    # The unavailable estimate is still pushed: its reason says why there is no figure.
    [unavailable] = xcom_values(capped, "generate", xcom_keys.EVOLINK_ESTIMATE)
    assert unavailable["status"] == "unavailable" and "uc" not in unavailable and unavailable["reason"]
    logged = task_logs()
    assert any("no cap can be established" in line for line in logged) or not AIRFLOW_V_3_1_PLUS

    uncapped = run_dag("money_uncapped")
    assert uncapped.state == "success"
    assert len(posts(priced_emulator)) == 1
    assert any("No estimate was available" in line for line in task_logs())


def test_a_partial_estimate_under_a_cap_needs_consent(priced_emulator, task_logs):
    refused = run_dag("money_partial_refused")
    assert refused.state == "failed" and posts(priced_emulator) == []
    assert any("lower bound" in line for line in task_logs())
    allowed = run_dag("money_partial_allowed")
    assert allowed.state == "success" and len(posts(priced_emulator)) == 1
    [estimate] = xcom_values(allowed, "generate", xcom_keys.EVOLINK_ESTIMATE)
    assert estimate["status"] == "partial"


def test_a_batch_of_ten_with_a_budget_for_six_sends_exactly_six_in_fit_mode(priced_emulator):
    dag_run = run_dag("money_batch_fit")
    assert dag_run.state == "success"
    sent = posts(priced_emulator)
    assert len(sent) == 6
    assert sorted(r["body"]["prompt"] for r in sent) == [f"shot {i}" for i in range(6)]
    [approved] = xcom_values(dag_run, "plan")
    assert [item["planned_cost_uc"] for item in approved] == [CLIP_UC] * 6
    [table] = xcom_values(dag_run, "plan", xcom_keys.EVOLINK_PLAN)
    assert table["approved"] == 6 and table["total_uc"] == 6 * CLIP_UC and table["total_credits"] == "162"
    assert [row["approved"] for row in table["requests"]] == [True] * 6 + [False] * 4
    assert table["per_model"]["kling-v3-image-to-video"]["requests"] == 6
    # The guarantee: the planned charges, and here the charges, stay within the budget.
    billed = Decimal(str(priced_emulator.state.credits()["data"]["user"]["used_credits"]))
    assert billed == 162


def test_a_batch_over_its_budget_sends_nothing_in_fail_mode(priced_emulator):
    dag_run = run_dag("money_batch_fail")
    assert dag_run.state == "failed"
    assert posts(priced_emulator) == []
    assert dag_run.get_task_instance("plan").state == "failed"


def test_a_submit_whose_price_changed_since_planning_is_refused(priced_emulator, task_logs):
    dag_run = run_dag("money_price_changed")
    assert dag_run.state == "failed"
    sent = posts(priced_emulator)
    assert len(sent) == 1  # the first item, priced as planned; the second refused before its POST
    states = {ti.map_index: ti.state for ti in dag_run.get_task_instances() if ti.task_id == "submit"}
    assert states == {0: "success", 1: "failed"}
    assert any("price changed since planning" in line for line in task_logs())


def test_a_try_that_failed_before_its_checks_passed_is_checked_again(priced_emulator):
    # Two failed reads of the balance (the attempts its connection's extra allows) fail the first try
    # before anything is paid.
    priced_emulator.faults.http_status(503, method="GET", path="/v1/credits", count=FAST_ATTEMPTS)
    dag_run = run_dag("money_checks_retried")
    assert dag_run.state == "success" and tries(dag_run) == 2
    reads = [r for r in priced_emulator.state.requests() if r["path"] == "/v1/credits"]
    assert len(posts(priced_emulator)) == 1
    # With a task state store (Airflow 3.3+) the second try knows its key was never cleared, so it runs
    # the checks (price, cap, balance) again before paying; without one it trusts the first try.
    assert len(reads) == FAST_ATTEMPTS + (1 if HAS_TASK_STATE_STORE else 0)


@pytest.mark.parametrize("state_store", ["as_airflow_gives_it", "none"])
def test_a_later_try_is_checked_against_its_cap_with_or_without_a_state_store(
    priced_emulator, state_store, monkeypatch
):
    # Without a task state store (Airflow 3.0-3.2) a later try cannot know whether an earlier one paid:
    # it still prices and checks the cap and plan (re-sending a paid key only returns the same job).
    if state_store == "none":
        from airflow_evolink.operators import evolink

        monkeypatch.setattr(evolink, "_state_store", lambda context: None)
    priced_emulator.faults.http_status(503, method="GET", path="/v1/credits", count=FAST_ATTEMPTS)
    dag_run = run_dag("money_cap_on_retry")
    assert dag_run.state == "failed" and tries(dag_run) == 2
    assert posts(priced_emulator) == []  # try 1 failed before paying, try 2 is over its cap


def test_without_a_state_store_a_retry_skips_only_the_balance_check(priced_emulator, monkeypatch):
    from airflow_evolink.operators import evolink

    monkeypatch.setattr(evolink, "_state_store", lambda context: None)
    priced_emulator.faults.http_status(503, method="GET", path="/v1/credits", count=FAST_ATTEMPTS)
    dag_run = run_dag("money_checks_retried")
    assert dag_run.state == "success" and tries(dag_run) == 2
    assert len(posts(priced_emulator)) == 1
    reads = [r for r in priced_emulator.state.requests() if r["path"] == "/v1/credits"]
    assert len(reads) == FAST_ATTEMPTS  # the balance is not read again on the re-send
    [estimate] = xcom_values(dag_run, "generate", xcom_keys.EVOLINK_ESTIMATE)
    assert estimate["uc"] == CLIP_UC  # but the request was priced (and its cap checked) again


@pytest.mark.parametrize(
    ("dag_id", "conf", "field"),
    [
        ("money_cap_usd", {"cap_usd": ""}, "max_cost_usd"),
        ("money_cap_usd", {"cap_usd": "  "}, "max_cost_usd"),
        ("money_cap_tier", {"cap_credits": ""}, "max_credits"),
        ("money_planned_templated", {"planned": ""}, "planned_cost_uc"),
    ],
)
def test_a_cap_or_plan_that_renders_empty_is_an_error_not_no_limit(
    priced_emulator, task_logs, dag_id, conf, field
):
    dag_run = run_dag(dag_id, **conf)
    assert dag_run.state == "failed" and tries(dag_run) == 1
    assert posts(priced_emulator) == []
    if AIRFLOW_V_3_1_PLUS:  # dag.test() on 3.0 logs the failure without its message
        assert any(field in line and "is empty" in line for line in task_logs())


def test_a_templated_plan_figure_is_checked(priced_emulator):
    assert run_dag("money_planned_templated", planned=str(CLIP_UC)).state == "success"
    assert len(posts(priced_emulator)) == 1
    priced_emulator.state.reset()
    assert run_dag("money_planned_templated", planned=str(CLIP_UC - 1)).state == "failed"
    assert posts(priced_emulator) == []

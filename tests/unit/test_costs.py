"""Credits per generation, run and model, from the task as pushed to XCom."""

from __future__ import annotations

import pytest

from airflow_evolink.utils.costs import cost_line, credits_used_of, summarize_costs


def task(task_id: str, status: str, **fields: object) -> dict[str, object]:
    return {"id": task_id, "status": status, **fields}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (task("a", "completed", credits_used=12.5, credits_reserved=20), 12.5),
        (task("a", "failed", credits_reserved=20), 0.0),  # refunded
        (task("a", "CANCELLED", credits_reserved=20), 0.0),
        (task("a", "failed", credits_used=3, credits_reserved=20), 3.0),  # the API's figure wins
        (task("a", "processing", credits_reserved=20), None),
        (task("a", "completed", credits_reserved=20), None),  # completed without a figure: unknown
    ],
)
def test_credits_used(data, expected):
    assert credits_used_of(data) == expected


def test_cost_lines_say_used_refunded_or_reserved():
    assert cost_line(task("a", "completed", credits_used=270000)) == (
        "Cost of Evolink task a: 270,000 credits (~$3,970.59) used"
    )
    assert "0 credits (~$0.00) used (the reservation was refunded)" in cost_line(
        task("a", "failed", credits_reserved=100)
    )
    assert "100 credits (~$1.47) reserved" in cost_line(task("a", "queued", credits_reserved=100))


def test_summary_counts_each_generation_once_with_its_final_state():
    submitted = [
        task("g1", "pending", model="kling", credits_reserved=100),
        task("g2", "pending", model="kling", credits_reserved=100),
        task("g3", "pending", model="veo", credits_reserved=50),
        None,  # a map index that pushed nothing
    ]
    waited = [
        task("g1", "completed", model="kling", credits_used=90, credits_reserved=100),
        task("g2", "failed", model="kling", credits_reserved=100),
        task("g3", "completed", model="veo", credits_reserved=50),  # no figure: the reservation counts
    ]
    costs = summarize_costs({"submit": submitted, "wait": waited})
    assert costs["generations"] == 3
    assert costs["total_credits"] == 90 + 0 + 50
    assert costs["per_model"] == {"kling": 90, "veo": 50}
    assert costs["per_task"] == {"submit": 140}
    assert costs["estimated"] == ["g3"]
    assert costs["total_usd"] == round(140 / 68, 2)


def test_summary_keeps_a_terminal_copy_over_a_later_running_one():
    costs = summarize_costs(
        {
            "wait": [task("g1", "completed", credits_used=10)],
            "submit": [task("g1", "pending", credits_reserved=30)],
        }
    )
    assert costs["total_credits"] == 10 and costs["per_task"] == {"wait": 10}

"""Credits per generation, run and model, from the task as pushed to XCom."""

from __future__ import annotations

import pytest

from airflow_evolink.utils.costs import cost_line, credits_used_of, describe_summary, summarize_costs


def task(task_id: str, status: str, **fields: object) -> dict[str, object]:
    return {"id": task_id, "status": status, **fields}


REFUNDED = {
    "charge_status": "released",
    "refund_status": "completed",
    "reserved_credits": 27,
    "charged_credits": 0,
    "refunded_credits": 27,
    "refunded_at": "2026-12-05T06:00:00Z",
}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (task("a", "completed", credits_used=12.5, credits_reserved=20), 12.5),
        (task("a", "completed", cost_credits=27, credits_used=12.5), 27.0),  # usage.cost before credits_used
        (
            task(
                "a", "completed", credits_used=1, billing={"charge_status": "charged", "charged_credits": 27}
            ),
            27.0,
        ),
        # A charged figure only once charge_status says charged; a reservation is not a charge.
        (task("a", "processing", billing={"charge_status": "reserved", "reserved_credits": 27}), None),
        (task("a", "failed", credits_reserved=20), None),  # no proof of a refund: unknown, not 0
        (task("a", "failed", credits_used=0, credits_reserved=20), None),  # a bare zero proves nothing
        (task("a", "failed", billing=REFUNDED), 0.0),  # the refund is proven
        (task("a", "failed", billing={**REFUNDED, "refunded_credits": 20}), None),  # partly refunded
        (task("a", "failed", billing={**REFUNDED, "refunded_at": None}), None),
        (task("a", "failed", billing={**REFUNDED, "refund_status": "pending"}), None),
        (task("a", "failed", credits_used=3, credits_reserved=20), 3.0),  # the API's figure wins
        (task("a", "processing", credits_reserved=20), None),
        (task("a", "completed", credits_reserved=20), None),  # completed without a figure: unknown
    ],
)
def test_credits_used(data, expected):
    assert credits_used_of(data) == expected


def test_cost_lines_say_charged_refunded_or_expected():
    # 27 credits is the 5 s 720p kling-v3 clip: $0.397...
    assert cost_line(task("a", "completed", credits_used=27)) == (
        "Cost of Evolink task a: 27 credits (~$0.40) charged"
    )
    assert cost_line(task("a", "failed", billing=REFUNDED)) == (
        "Cost of Evolink task a: 0 credits charged (refund completed)"
    )
    # A reservation is shown as reported, never converted to dollars.
    line = cost_line(task("a", "queued", credits_reserved=270000), {"uc": 270000})
    assert line == (
        "Cost of Evolink task a: estimate 27 credits (270,000 UC, ~$0.40); credits_reserved as reported: "
        "270,000; Evolink reports the charge when it ends"
    )
    assert "$" not in cost_line(task("a", "queued", credits_reserved=100))


def test_summary_counts_each_generation_once_with_its_final_state():
    submitted = [
        task("g1", "pending", model="kling", credits_reserved=100),
        task("g2", "pending", model="kling", credits_reserved=100),
        task("g3", "pending", model="veo", credits_reserved=50),
        task("g4", "pending", model="veo", credits_reserved=50),
        None,  # a map index that pushed nothing
    ]
    waited = [
        task("g1", "completed", model="kling", credits_used=90, credits_reserved=100),
        task("g2", "failed", model="kling", credits_reserved=100, billing=REFUNDED),
        task("g3", "completed", model="veo", credits_reserved=50),  # no figure: its estimate counts
        task("g4", "completed", model="veo", credits_reserved=50),  # no figure, no estimate: unknown
    ]
    estimates = [{"evolink_task_id": "g3", "uc": 405_000}, {"uc": 1}]  # 40.5 credits; one never submitted
    costs = summarize_costs({"submit": submitted, "wait": waited}, estimates)
    assert costs["generations"] == 4
    assert costs["total_credits"] == 90 + 0 + 40.5
    assert costs["per_model"] == {"kling": 90, "veo": 40.5}
    assert costs["per_task"] == {"submit": 130.5}
    assert (costs["charged"], costs["refunded"], costs["estimated"], costs["unknown"]) == (
        ["g1"],
        ["g2"],
        ["g3"],
        ["g4"],
    )
    assert costs["total_usd"] == round(130.5 / 68, 2)
    assert "1 charged, 1 refunded, 1 estimated, 1 unknown" in describe_summary(costs)


def test_summary_keeps_a_terminal_copy_over_a_later_running_one():
    costs = summarize_costs(
        {
            "wait": [task("g1", "completed", credits_used=10)],
            "submit": [task("g1", "pending", credits_reserved=30)],
        }
    )
    assert costs["total_credits"] == 10 and costs["per_task"] == {"wait": 10}


def test_a_partial_estimate_is_shown_and_summed_as_a_lower_bound():
    partial = {"evolink_task_id": "g1", "uc": 270_000, "status": "partial"}
    line = cost_line(task("g1", "queued"), partial)
    assert "estimate (partial) at least 27 credits" in line
    costs = summarize_costs(
        {"submit": [task("g1", "completed", model="wan"), task("g2", "completed", model="kling")]},
        [partial, {"evolink_task_id": "g2", "uc": 270_000, "status": "estimated"}],
    )
    assert costs["estimated"] == ["g1", "g2"] and costs["lower_bound"] == ["g1"]
    assert costs["total_is_lower_bound"] is True
    text = describe_summary(costs)
    assert "at least 54 credits" in text and "1 of the estimates partial (lower bounds)" in text
    exact = summarize_costs({"submit": [task("g2", "completed")]}, [{"evolink_task_id": "g2", "uc": 1}])
    assert exact["total_is_lower_bound"] is False and "at least" not in describe_summary(exact)

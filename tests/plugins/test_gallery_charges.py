"""The gallery's charged figure follows the charge rules the cost summary uses (core/task.py)."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_evolink.core.task import charged_credits_of
from airflow_evolink.plugins.generations import TaskInstanceInfo, TaskInstanceXComs, build_generations

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def generation_of(task: dict) -> object:
    ti = TaskInstanceInfo("wait", -1, "success", T0, T0)
    [generation] = build_generations([TaskInstanceXComs("d", "r1", ti, {"evolink_task": (task, T0)})])
    return generation


def test_billing_charged_credits_come_first():
    task = {
        "id": "task-1",
        "status": "completed",
        "credits_used": 99,
        "billing": {"charge_status": "charged", "charged_credits": 27},
    }
    assert generation_of(task).credits_used == 27 == charged_credits_of(task)


def test_an_unproven_zero_is_not_a_charge():
    task = {"id": "task-1", "status": "failed", "credits_used": 0}
    assert generation_of(task).credits_used is None
    refunded = {
        **task,
        "billing": {"charge_status": "refunded", "refund_status": "completed", "refunded_credits": 27},
    }
    assert generation_of(refunded).credits_used == charged_credits_of(refunded)


def test_a_sum_with_a_partial_estimate_is_a_lower_bound():
    from airflow_evolink.plugins.credits import CreditsLine

    line = CreditsLine("d")
    for status in ("estimated", "partial"):
        task = {"id": f"task-{status}", "status": "running"}
        generation = generation_of(task)
        generation.estimate = {"status": status, "uc": 270_000, "credits": "27"}  # type: ignore[attr-defined]
        line.add(generation)  # type: ignore[arg-type]
    assert line.estimated_count == 2 and line.partial_count == 1
    assert line.estimated_text.startswith("at least 54 credits")
    exact = CreditsLine("e")
    exact.merge(CreditsLine("f"))
    assert not exact.estimated_text.startswith("at least")

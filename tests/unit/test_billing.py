"""``billing`` on a task, parsed; the charge read from it; a refund counted only when proven."""

from __future__ import annotations

from airflow_evolink.core.task import parse_task

RUNNING = {
    "id": "task-1",
    "status": "processing",
    "usage": {"credits_reserved": 270000},
    "billing": {
        "refund_scope": "account_balance",
        "charge_status": "reserved",
        "refund_status": "unknown",
        "reserved_credits": 27,
        "charged_credits": 0,
        "refunded_credits": 0,
        "refunded_at": None,
    },
}


def test_a_running_task_has_a_reservation_and_no_charge():
    task = parse_task(RUNNING)
    assert task.billing is not None and task.billing.reserved_credits == 27
    assert task.charge_status == "reserved" and task.charged_credits is None
    assert task.credits_reserved == 270000  # as reported, whatever its unit


def test_a_completed_task_is_charged_what_billing_says():
    body = {
        **RUNNING,
        "status": "completed",
        "usage": {"credits_reserved": 270000, "cost": {"credits": 27, "usd": "0.39705882"}},
        "billing": {**RUNNING["billing"], "charge_status": "charged", "charged_credits": 27},
    }
    task = parse_task(body)
    assert task.charged_credits == 27 and task.cost_credits == 27 and task.cost_usd == 0.39705882
    assert task.to_xcom()["billing"]["charged_credits"] == 27


def test_a_refund_counts_only_when_every_sign_agrees():
    refunded = {
        **RUNNING["billing"],
        "charge_status": "released",
        "refund_status": "completed",
        "refunded_credits": 27,
        "refunded_at": "2026-12-05T06:00:00Z",
    }
    task = parse_task({**RUNNING, "status": "failed", "billing": refunded})
    assert task.billing is not None and task.billing.refund_proven and task.charged_credits == 0
    for broken in (
        {"refund_status": "pending"},
        {"charge_status": "reserved"},
        {"refunded_at": None},
        {"refunded_credits": 20},
    ):
        task = parse_task({**RUNNING, "status": "failed", "billing": {**refunded, **broken}})
        assert task.billing is not None and not task.billing.refund_proven, broken
        assert task.charged_credits is None, broken


def test_a_task_without_billing_parses_as_before():
    task = parse_task({"id": "t", "status": "completed", "usage": {"credits_used": 12.5}})
    assert task.billing is None and task.charged_credits == 12.5

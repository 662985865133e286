"""What generations cost: the charge when Evolink states one, the estimate where nothing is charged yet.

Every function reads what the tasks pushed to XCom (``evolink_task``, and ``evolink_estimate`` for the
price from the published rules), so a summary task can add up a whole run, mapped batches included, from
XCom alone. Figures are in credits, a unit the API states for charges (``billing.charged_credits``,
``usage.cost.credits``, ``usage.credits_used``) and the pricing rules give for estimates (UC / 10,000).
``usage.credits_reserved`` has no settled unit: it is shown as reported and never added up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from airflow_evolink.core.account import format_reported
from airflow_evolink.core.money import CREDITS_PER_USD, format_known_credits, format_uc, uc_to_credits
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.core.task import charged_credits_of, refund_proven
from airflow_evolink.utils import xcom_keys


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def credits_used_of(task: Mapping[str, Any]) -> float | None:
    """Credits the task was charged: ``billing.charged_credits``, else ``usage.cost.credits``, else
    ``usage.credits_used``; 0 only after a proven refund; ``None`` while nothing is charged or said."""
    return charged_credits_of(dict(task))


def cost_line(task: Mapping[str, Any], estimate: Mapping[str, Any] | None = None) -> str:
    """One log line that says what the task was charged, or what it is expected to cost until it ends."""
    task_id = task.get("id") or "?"
    used = credits_used_of(task)
    reserved = format_reported("credits_reserved", _number(task.get("credits_reserved")))
    if used is not None:
        if used == 0 and refund_proven(dict(task)):
            return f"Cost of Evolink task {task_id}: 0 credits charged (refund completed)"
        return f"Cost of Evolink task {task_id}: {format_known_credits(used)} charged"
    status = TaskStatus.parse(str(task.get("status") or ""))
    uc = estimate.get("uc") if isinstance(estimate, Mapping) else None
    expected = f"{_estimate_label(estimate)} {format_uc(uc)}; " if isinstance(uc, int) else ""
    if status.is_terminal:
        return f"Cost of Evolink task {task_id}: no charge reported yet ({expected}{reserved})"
    return f"Cost of Evolink task {task_id}: {expected}{reserved}; Evolink reports the charge when it ends"


def summarize_costs(
    tasks_by_airflow_task: Mapping[str, Iterable[Any]],
    estimates: Iterable[Any] = (),
) -> dict[str, Any]:
    """Add up the generations of a run: credits per model, per Airflow task and in total.

    ``tasks_by_airflow_task`` maps each Airflow task id to the ``evolink_task`` XComs it pushed (one per
    map index); ``estimates`` are ``evolink_estimate`` XComs (each names its ``evolink_task_id`` once
    submitted). A generation seen by several tasks (a submit task and its sensor) counts once, charged to
    the first task listed, with the most final state any of them saw. Each generation is marked:
    ``charged`` (the charge Evolink states, 0 after a proven refund), ``estimated`` (nothing charged yet:
    its estimate counts; ``lower_bound`` lists those whose estimate is partial, and then
    ``total_is_lower_bound`` says the total is "at least") or ``unknown`` (neither: it adds nothing, and ``credits_reserved`` is not guessed
    into credits).
    """
    first_seen: dict[str, str] = {}
    latest: dict[str, Mapping[str, Any]] = {}
    for airflow_task, values in tasks_by_airflow_task.items():
        for task in values:
            if not isinstance(task, Mapping) or not task.get("id"):
                continue
            evolink_id = str(task["id"])
            first_seen.setdefault(evolink_id, airflow_task)
            known = latest.get(evolink_id)
            if known is None or _finality(task) >= _finality(known):
                latest[evolink_id] = task
    estimated_uc = {
        str(item["evolink_task_id"]): item["uc"]
        for item in estimates
        if isinstance(item, Mapping) and item.get("evolink_task_id") and isinstance(item.get("uc"), int)
    }
    # A partial estimate is a lower bound: the figure it adds to a total makes the total one too.
    lower_bounds = {
        str(item["evolink_task_id"])
        for item in estimates
        if isinstance(item, Mapping) and item.get("evolink_task_id") and item.get("status") == "partial"
    }
    per_model: dict[str, float] = {}
    per_task: dict[str, float] = {}
    marks: dict[str, list[str]] = {
        "charged": [],
        "refunded": [],
        "estimated": [],
        "lower_bound": [],
        "unknown": [],
    }
    total = Decimal(0)
    for evolink_id, task in latest.items():
        used = credits_used_of(task)
        if used is not None:
            credits = Decimal(repr(used))
            marks["refunded" if used == 0 else "charged"].append(evolink_id)
        elif evolink_id in estimated_uc:
            credits = uc_to_credits(estimated_uc[evolink_id])
            marks["estimated"].append(evolink_id)
            if evolink_id in lower_bounds:
                marks["lower_bound"].append(evolink_id)
        else:
            marks["unknown"].append(evolink_id)
            continue
        model = str(task.get("model") or "unknown")
        per_model[model] = per_model.get(model, 0.0) + float(credits)
        airflow_task = first_seen[evolink_id]
        per_task[airflow_task] = per_task.get(airflow_task, 0.0) + float(credits)
        total += credits
    return {
        "generations": len(latest),
        "total_credits": float(total),
        "total_usd": float(round(total / CREDITS_PER_USD, 2)),
        "total_is_lower_bound": bool(marks["lower_bound"]),
        "per_model": per_model,
        "per_task": per_task,
        **{mark: sorted(ids) for mark, ids in marks.items()},
    }


def run_cost_summary(ti: Any, task_ids: Sequence[str]) -> dict[str, Any]:
    """:func:`summarize_costs` for this DAG run, from the ``evolink_task`` and ``evolink_estimate`` XComs of
    ``task_ids`` (every map index of a mapped task)."""
    pulled = {
        task_id: _as_list(ti.xcom_pull(task_ids=task_id, key=xcom_keys.EVOLINK_TASK)) for task_id in task_ids
    }
    estimates = [
        item
        for task_id in task_ids
        for item in _as_list(ti.xcom_pull(task_ids=task_id, key=xcom_keys.EVOLINK_ESTIMATE))
    ]
    return summarize_costs(pulled, estimates)


def describe_summary(costs: Mapping[str, Any]) -> str:
    """The summary in one line, each figure marked by what it rests on."""
    marked = ", ".join(
        f"{len(costs.get(mark) or [])} {mark}" for mark in ("charged", "refunded", "estimated", "unknown")
    )
    bounds = len(costs.get("lower_bound") or [])
    if bounds:
        marked += f", {bounds} of the estimates partial (lower bounds)"
    at_least = "at least " if costs.get("total_is_lower_bound") else ""
    return (
        f"{costs['generations']} generations, {at_least}{format_known_credits(costs['total_credits'])} "
        f"({marked}); "
        f"per model: {costs['per_model']}"
    )


def _estimate_label(estimate: Mapping[str, Any] | None) -> str:
    """``estimate``, or ``estimate (partial) at least`` for a lower bound."""
    if isinstance(estimate, Mapping) and estimate.get("status") == "partial":
        return "estimate (partial) at least"
    return "estimate"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return list(value)


def _finality(task: Mapping[str, Any]) -> int:
    """Rank a copy of a task: a terminal state beats a running one, a reported charge beats none."""
    status = TaskStatus.parse(str(task.get("status") or ""))
    return (2 if status.is_terminal else 0) + (1 if credits_used_of(task) is not None else 0)

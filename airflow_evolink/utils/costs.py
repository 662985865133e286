"""What generations cost: credits used when Evolink says, 0 after a refund, the reservation until then.

Every function reads the task as pushed to XCom (``evolink_task``), so a summary task can add up a whole
run, mapped batches included, from XCom alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_evolink.core.account import CREDITS_PER_USD, format_credits
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.utils import xcom_keys


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def credits_used_of(task: Mapping[str, Any]) -> float | None:
    """Credits the task used: the API's figure; 0 for a failed or cancelled task that reports none (the
    reservation is refunded); ``None`` while it runs or when a completed task does not say."""
    used = _number(task.get("credits_used"))
    if used is not None:
        return used
    status = TaskStatus.parse(str(task.get("status") or ""))
    if status.is_terminal and not status.is_success:
        return 0.0
    return None


def cost_line(task: Mapping[str, Any]) -> str:
    """One log line that says what the task cost, or what it holds reserved until it ends."""
    task_id = task.get("id") or "?"
    used = credits_used_of(task)
    reserved = _number(task.get("credits_reserved"))
    if used is not None:
        refunded = " (the reservation was refunded)" if used == 0 and reserved else ""
        return f"Cost of Evolink task {task_id}: {format_credits(used)} used{refunded}"
    return (
        f"Cost of Evolink task {task_id}: {format_credits(reserved)} reserved; Evolink reports the credits "
        "used when it ends"
    )


def summarize_costs(tasks_by_airflow_task: Mapping[str, Iterable[Any]]) -> dict[str, Any]:
    """Add up the generations of a run: credits per model, per Airflow task and in total.

    ``tasks_by_airflow_task`` maps each Airflow task id to the ``evolink_task`` XComs it pushed (one per
    map index). A generation seen by several tasks (a submit task and its sensor) counts once, charged to
    the first task listed, with the most final state any of them saw. Where a completed generation reports
    no figure, its reservation counts and the generation is listed under ``estimated``.
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
    per_model: dict[str, float] = {}
    per_task: dict[str, float] = {}
    estimated: list[str] = []
    total = 0.0
    for evolink_id, task in latest.items():
        credits = credits_used_of(task)
        if credits is None:
            credits = _number(task.get("credits_reserved")) or 0.0
            estimated.append(evolink_id)
        model = str(task.get("model") or "unknown")
        per_model[model] = per_model.get(model, 0.0) + credits
        airflow_task = first_seen[evolink_id]
        per_task[airflow_task] = per_task.get(airflow_task, 0.0) + credits
        total += credits
    return {
        "generations": len(latest),
        "total_credits": total,
        "total_usd": round(total / CREDITS_PER_USD, 2),
        "per_model": per_model,
        "per_task": per_task,
        "estimated": sorted(estimated),
    }


def run_cost_summary(ti: Any, task_ids: Sequence[str]) -> dict[str, Any]:
    """:func:`summarize_costs` for this DAG run, from the ``evolink_task`` XComs of ``task_ids``
    (every map index of a mapped task)."""
    pulled = {
        task_id: _as_list(ti.xcom_pull(task_ids=task_id, key=xcom_keys.EVOLINK_TASK)) for task_id in task_ids
    }
    return summarize_costs(pulled)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    return list(value)


def _finality(task: Mapping[str, Any]) -> int:
    """Rank a copy of a task: a terminal state beats a running one, a reported charge beats none."""
    status = TaskStatus.parse(str(task.get("status") or ""))
    return (2 if status.is_terminal else 0) + (1 if _number(task.get("credits_used")) is not None else 0)

"""Finish a task from a trigger event, the same way for the sensor and the submit-and-wait operator."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_evolink.core.task import EvolinkTask
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.links.evolink import EvolinkTaskLink, EvolinkVideoLink, push_link
from airflow_evolink.utils import xcom_keys
from airflow_evolink.utils.costs import cost_line, credits_used_of
from airflow_evolink.utils.failures import check_task_succeeded
from airflow_evolink.version_compat import AirflowException, AirflowFailException

EVENT_STATUSES = frozenset({"success", "failed", "timeout", "error"})


def push_task(context: Any, task: EvolinkTask) -> None:
    """Push the whole task (it holds no secrets) and, once known, its cost and result URLs."""
    data = task.to_xcom()
    context["ti"].xcom_push(key=xcom_keys.EVOLINK_TASK, value=data)
    push_credits_used(context, data)
    if task.results:
        push_results(context, list(task.results))


def push_results(context: Any, urls: list[str]) -> None:
    """Push the result URLs (they expire 24 h after generation) and show the video link."""
    context["ti"].xcom_push(key=xcom_keys.RESULT_URLS, value=urls)
    push_link(context, EvolinkVideoLink, urls)


def push_credits_used(context: Any, task_data: Mapping[str, Any]) -> None:
    """Push what the task was charged once it says (:func:`credits_used_of`: ``billing.charged_credits``,
    else ``usage.cost.credits``, else ``usage.credits_used``). 0 only when a refund is proven; a failed or
    cancelled task without a figure pushes nothing (a reservation is not a charge, nor a proven refund)."""
    used = credits_used_of(task_data)
    if used is not None:
        context["ti"].xcom_push(key=xcom_keys.CREDITS_USED, value=used)


def log_cost(context: Any, task_data: Any, estimate: Mapping[str, Any] | None = None) -> None:
    """The task's last log line: what the generation was charged, or its estimate until it is."""
    log = getattr(context.get("task"), "log", None)
    if log is not None and isinstance(task_data, Mapping):
        log.info("%s", cost_line(task_data, estimate))


def finish_task(context: Any, task: EvolinkTask) -> list[str]:
    """Push the terminal task and return its result URLs, or raise why there is no video."""
    push_task(context, task)
    if not task.is_success or not task.results:
        log_cost(context, task.to_xcom())
    return check_task_succeeded(task)


def result_from_event(context: Any, event: dict[str, Any] | None, hook: EvolinkHook) -> list[str]:
    """Validate a trigger event and turn it into result URLs or the right Airflow exception.

    An event can be ``None`` or carry an unknown status after a version skew between worker and
    triggerer; that fails clearly instead of passing silently.
    """
    if not isinstance(event, dict) or event.get("status") not in EVENT_STATUSES:
        raise AirflowException(f"Unexpected event from the Evolink trigger: {event!r}")
    status = event["status"]
    message = str(event.get("message") or "")
    if event.get("evolink_task_id"):
        # This runs in a new worker process after the deferral: record the task link again.
        push_link(context, EvolinkTaskLink)
    task_data = event.get("task")
    if isinstance(task_data, dict):
        context["ti"].xcom_push(key=xcom_keys.EVOLINK_TASK, value=task_data)
        push_credits_used(context, task_data)
    if status == "success":
        urls = [str(url) for url in event.get("result_urls") or []]
        push_results(context, urls)
        return urls
    log_cost(context, task_data)
    if status == "timeout":
        raise AirflowFailException(message)
    if event.get("retryable"):
        raise AirflowException(message)
    raise AirflowFailException(message)

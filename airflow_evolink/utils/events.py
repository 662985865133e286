"""Finish a task from a trigger event, the same way for the sensor and the submit-and-wait operator."""

from __future__ import annotations

from typing import Any

from airflow_evolink.compat import AirflowException, AirflowFailException
from airflow_evolink.core.account import format_credits
from airflow_evolink.core.task import EvolinkTask
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.operators.links import EvolinkTaskLink, EvolinkVideoLink, push_link
from airflow_evolink.utils import xcom_keys
from airflow_evolink.utils.failures import check_task_succeeded

EVENT_STATUSES = frozenset({"success", "failed", "timeout", "error"})


def push_task(context: Any, task: EvolinkTask) -> None:
    """Push the whole task (it holds no secrets) and, once known, its result URLs."""
    context["ti"].xcom_push(key=xcom_keys.EVOLINK_TASK, value=task.to_xcom())
    push_credits_used(context, task.credits_used)
    if task.results:
        push_results(context, list(task.results))


def push_results(context: Any, urls: list[str]) -> None:
    """Push the result URLs (they expire 24 h after generation) and show the video link."""
    context["ti"].xcom_push(key=xcom_keys.RESULT_URLS, value=urls)
    push_link(context, EvolinkVideoLink, urls)


def push_credits_used(context: Any, credits_used: Any) -> None:
    """Push what the task reports it cost (``usage.credits_used`` or ``usage.cost``), once it says."""
    if isinstance(credits_used, (int, float)) and not isinstance(credits_used, bool):
        context["ti"].xcom_push(key=xcom_keys.CREDITS_USED, value=credits_used)
        log = getattr(context.get("task"), "log", None)
        if log is not None:
            log.info("Evolink charged %s for this task", format_credits(credits_used))


def finish_task(context: Any, task: EvolinkTask) -> list[str]:
    """Push the terminal task and return its result URLs, or raise why there is no video."""
    push_task(context, task)
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
        push_credits_used(context, task_data.get("credits_used"))
    if status == "success":
        urls = [str(url) for url in event.get("result_urls") or []]
        push_results(context, urls)
        return urls
    if status == "timeout":
        raise AirflowFailException(message)
    if event.get("retryable"):
        raise AirflowException(message)
    raise AirflowFailException(message)

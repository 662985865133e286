"""Turn Evolink outcomes into Airflow outcomes.

Airflow retries a task on any exception except ``AirflowFailException``. So a failure that another try
cannot fix (bad input, a content-policy block, a spent account) raises ``AirflowFailException``, and
Airflow's retries never pay again for it; transient failures raise a normal error so Airflow retries. A
paid request whose outcome is unknown is retryable too: the next try sends the same Idempotency-Key, and
Evolink answers it with the job it created, if any.
"""

from __future__ import annotations

from typing import NoReturn

from airflow_evolink.core.errors import EvolinkError, EvolinkTaskFailedError
from airflow_evolink.core.task import EvolinkTask
from airflow_evolink.version_compat import AirflowException, AirflowFailException


def raise_airflow_error(exc: EvolinkError) -> NoReturn:
    """Raise the Airflow exception that gives ``exc`` the right retry behaviour, chained to it."""
    if exc.retryable:
        raise AirflowException(str(exc)) from exc
    raise AirflowFailException(str(exc)) from exc


def check_task_succeeded(task: EvolinkTask) -> list[str]:
    """Return the result URLs of a completed task, or raise why it produced no video."""
    if task.is_success and task.results:
        return list(task.results)
    failure: EvolinkTaskFailedError = task.failure()
    raise_airflow_error(failure)

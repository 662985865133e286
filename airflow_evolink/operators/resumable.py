"""``ResumableJobMixin`` on Airflow 3.3+, and a stand-in with the same surface on older Airflow.

On 3.3+ the mixin persists the Evolink task id in the task-instance state store before waiting, so a
retry after a worker crash reconnects instead of paying again. Below 3.3 there is no state store: the
stand-in submits and waits, and the ``Idempotency-Key`` (the same for every try of a task instance) is
the only guard against a duplicate.
"""

from __future__ import annotations

from typing import Any

try:
    from airflow.sdk import ResumableJobMixin

    HAS_TASK_STATE_STORE = True
except ImportError:  # Airflow < 3.3
    HAS_TASK_STATE_STORE = False

    class ResumableJobMixin:  # type: ignore[no-redef]
        """Submit, wait, return: the 3.3 mixin's flow without crash recovery."""

        external_id_key: str = "remote_job_id"

        def __init__(self, *, durable: bool = True, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.durable = durable

        def execute_resumable(self, context: Any) -> Any:
            external_id = self.submit_job(context)  # type: ignore[attr-defined]
            self.poll_until_complete(external_id, context)  # type: ignore[attr-defined]
            return self.get_job_result(external_id, context)  # type: ignore[attr-defined]


__all__ = ["HAS_TASK_STATE_STORE", "ResumableJobMixin"]

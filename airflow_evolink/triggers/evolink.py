"""Wait for an Evolink task in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_evolink.core.errors import EvolinkError
from airflow_evolink.core.polling import PollSchedule, elapsed_since_submit
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.core.task import EvolinkTask
from airflow_evolink.hooks.evolink import EvolinkHook


class EvolinkVideoTrigger(BaseTrigger):
    """Poll one Evolink task until it ends, then yield exactly one event.

    The event's ``status`` is ``success``, ``failed`` (with the Evolink code and message), ``timeout``
    or ``error``. The deadline is absolute wall-clock time (epoch seconds), so a trigger rebuilt on
    another triggerer after a crash keeps its original deadline. Polls are idempotent reads, so two
    triggerers running the same trigger at once (HA) cannot cause harm.

    :param evolink_task_id: the task to watch.
    :param evolink_conn_id: the Airflow connection of type ``evolink``.
    :param poll_interval: fixed seconds between polls; ``None`` adapts to the task's progress.
    :param deadline: epoch seconds after which a ``timeout`` event is sent; ``None`` waits forever.
    :param retry_policy: the hook's retry policy as a dict (plain values only).
    """

    def __init__(
        self,
        evolink_task_id: str,
        evolink_conn_id: str = EvolinkHook.default_conn_name,
        poll_interval: float | None = None,
        deadline: float | None = None,
        retry_policy: dict[str, Any] | None = None,
        started_at: float | None = None,
    ) -> None:
        super().__init__()
        self.evolink_task_id = evolink_task_id
        self.evolink_conn_id = evolink_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.retry_policy = retry_policy
        self.started_at = started_at if started_at is not None else time.time()

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "evolink_task_id": self.evolink_task_id,
                "evolink_conn_id": self.evolink_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "retry_policy": self.retry_policy,
                "started_at": self.started_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        yield TriggerEvent(await self._wait())

    async def _wait(self) -> dict[str, Any]:
        hook = EvolinkHook(self.evolink_conn_id, retry_policy=RetryPolicy.from_dict(self.retry_policy))
        schedule = PollSchedule(poll_interval=self.poll_interval)
        try:
            await hook.aconnection_config()
            async with hook.async_session() as session:
                last_progress: int | None = None
                while True:
                    task = await hook.async_get_task(self.evolink_task_id, session)
                    if task.is_terminal:
                        return self._terminal_event(task)
                    if task.progress != last_progress:
                        self.log.info("Evolink task %s is %s: %d%%", task.id, task.raw_status, task.progress)
                        last_progress = task.progress
                    now = time.time()
                    if self.deadline is not None and now >= self.deadline:
                        return self._timeout_event(task, now)
                    delay = schedule.next_delay(task, elapsed_since_submit(task, now, self.started_at))
                    if self.deadline is not None:
                        delay = min(delay, max(0.0, self.deadline - now))
                    await asyncio.sleep(delay)
        except EvolinkError as exc:
            return {
                "status": "error",
                "evolink_task_id": self.evolink_task_id,
                "message": str(exc),
                "retryable": exc.retryable,
                "http_status": getattr(exc, "http_status", None),
            }

    def _terminal_event(self, task: EvolinkTask) -> dict[str, Any]:
        event: dict[str, Any] = {"evolink_task_id": task.id, "task": task.to_xcom()}
        if task.is_success and task.results:
            event.update(status="success", result_urls=list(task.results), message="completed")
            return event
        failure = task.failure()
        event.update(status="failed", code=failure.code, message=str(failure), retryable=failure.retryable)
        return event

    def _timeout_event(self, task: EvolinkTask, now: float) -> dict[str, Any]:
        waited = now - self.started_at
        return {
            "status": "timeout",
            "evolink_task_id": task.id,
            "task": task.to_xcom(),
            "waited_seconds": waited,
            "message": (
                f"Evolink task {task.id} did not finish within {waited:.0f} s "
                f"(last status: {task.raw_status}, {task.progress}%). The job may still be running on "
                "Evolink, which has no cancel endpoint."
            ),
        }

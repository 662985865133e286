"""Wait for an Evolink task in the triggerer, without holding a worker slot."""

from __future__ import annotations

import asyncio
import functools
import time
import weakref
from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_evolink.core.errors import EvolinkAuthError, EvolinkError
from airflow_evolink.core.polling import PollSchedule, elapsed_since_submit
from airflow_evolink.core.protocol import get_task_call
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.core.task import EvolinkTask, TaskState, UnlistedStatusWarning, parse_state, parse_task
from airflow_evolink.hooks.async_transport import (
    PreparedCall,
    borrow_session,
    prepare,
    return_session,
    send_with_retries,
)
from airflow_evolink.hooks.connection import EvolinkConnectionConfig
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.triggers import batch

#: How long a connection read by one trigger serves the others in the same event loop. A trigger that
#: meets 401/403 with a cached connection reads it again at once, so a rotated key is picked up.
CONNECTION_CACHE_SECONDS = 60.0
#: Progress lines are written on every status change, and otherwise at most this often per trigger.
PROGRESS_LOG_SECONDS = 60.0


class EvolinkVideoTrigger(BaseTrigger):
    """Poll one Evolink task until it ends, then yield exactly one event.

    In a triggerer, the triggers of one connection share batch reads (``POST /v1/tasks/batch``, up to
    50 tasks a request; see :mod:`airflow_evolink.triggers.batch`), and fall back to one GET per poll
    where the gateway has no batch route.

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
        # The hot path of a triggerer holding thousands of these. Each observation is either a share of a
        # batch read (see triggers/batch.py: one POST /v1/tasks/batch answers up to 50 triggers, and the
        # poller runs _after_poll for each without waking this task) or, when batching is off or the
        # gateway has no batch route, one GET on the loop's shared keep-alive session. Then one parse and
        # one schedule step. Retry machinery is only built when an attempt fails, the connection is looked
        # up once per event loop and connection id, not per trigger, and the wait runs in this generator
        # itself: every object a sleeping trigger keeps alive is one more for the garbage collector to
        # scan, thousands of times over.
        policy = _retry_policy(self.retry_policy)
        schedule = _poll_schedule(self.poll_interval)
        # One logger for every Evolink trigger in the process: a logger per instance costs ~60 us to build
        # on its first line, more than a poll. The triggerer routes each line to its trigger's log by
        # context variables set for the trigger's task, not by logger object.
        log = type(self).logger()
        try:
            call = get_task_call(self.evolink_task_id)
            config, cached = await _connection_config(self.evolink_conn_id)
            session = borrow_session()  # not `async with`: see borrow_session
            try:
                progress = _ProgressLog(log)
                poller = batch.poller_for(config, log) if batch.BATCH_POLLING else None
                prepared: PreparedCall | None = None  # the GET, prepared once it is first needed
                delay: float | None = None  # None: the first observation
                while True:
                    try:
                        if poller is not None and poller.batching:
                            # The poller runs _after_poll on each task object it reads for this trigger
                            # and queues it again, until the wait ends or the task must be read alone.
                            watch = poller.watch(
                                self.evolink_task_id,
                                policy,
                                functools.partial(self._after_poll, schedule=schedule, progress=progress),
                                delay or 0.0,
                                first=delay is None,
                            )
                            try:
                                step = await watch.future
                            except asyncio.CancelledError:
                                poller.forget(watch)
                                raise
                            del watch
                            if step is not batch.READ_ALONE:
                                break
                        elif delay:
                            await asyncio.sleep(delay)
                        if prepared is None:
                            prepared = await prepare(session, config, call)
                        data = await send_with_retries(session, config, call, policy, log, prepared)
                        # Nothing parsed from this answer outlives _after_poll: while thousands of
                        # triggers sleep, the garbage collector has less to scan.
                        step = self._after_poll(data, schedule, progress)
                        del data
                    except EvolinkAuthError:
                        if not cached:
                            raise
                        # The cached connection may be stale (a rotated key): read it again and, if it
                        # changed, poll once more with it before reporting the error.
                        fresh, cached = await _connection_config(self.evolink_conn_id, refresh=True)
                        if fresh == config:
                            raise
                        config, prepared, delay = fresh, None, 0.0
                        poller = batch.poller_for(config, log) if batch.BATCH_POLLING else None
                        continue
                    if isinstance(step, dict):
                        break
                    delay = step
            finally:
                await return_session(session)
        except EvolinkError as exc:
            step = {
                "status": "error",
                "evolink_task_id": self.evolink_task_id,
                "message": str(exc),
                "retryable": exc.retryable,
                "http_status": getattr(exc, "http_status", None),
            }
        yield TriggerEvent(step)

    def _after_poll(
        self, data: Any, schedule: PollSchedule, progress: _ProgressLog
    ) -> float | dict[str, Any]:
        """The final event when the task has ended or the deadline has passed, else seconds to wait.

        Most answers only say "still running": they are read as a light :class:`TaskState`, and the full
        task model is built for the answer that ends the wait.
        """
        state = parse_state(data)
        if state.status.is_terminal:
            return self._terminal_event(parse_task(data))
        now = time.time()
        progress.seen(state, now)
        deadline = self.deadline
        if deadline is not None and now >= deadline:
            return self._timeout_event(parse_task(data), now)
        delay = schedule.next_delay(state, elapsed_since_submit(state, now, self.started_at))
        if deadline is not None:
            delay = min(delay, max(0.0, deadline - now))
        return delay

    def _terminal_event(self, task: EvolinkTask) -> dict[str, Any]:
        event: dict[str, Any] = {"evolink_task_id": task.id, "task": task.to_event()}
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
            "task": task.to_event(),
            "waited_seconds": waited,
            "message": (
                f"Evolink task {task.id} did not finish within {waited:.0f} s "
                f"(last status: {task.raw_status}, {task.progress}%). The job may still be running on "
                "Evolink, which has no cancel endpoint."
            ),
        }


@lru_cache(maxsize=64)
def _shared_retry_policy(items: tuple[tuple[str, Any], ...]) -> RetryPolicy:
    return RetryPolicy.from_dict(dict(items))


def _retry_policy(data: dict[str, Any] | None) -> RetryPolicy:
    """The policy for ``data``, one frozen instance shared by every trigger that carries the same dict."""
    try:
        return _shared_retry_policy(tuple(sorted(data.items())) if data else ())
    except TypeError:  # a value that cannot be hashed (or sorted): build one for this trigger
        return RetryPolicy.from_dict(data)


@lru_cache(maxsize=64)
def _poll_schedule(poll_interval: float | None) -> PollSchedule:
    """One frozen schedule per interval, shared by the triggers that use it."""
    return PollSchedule(poll_interval=poll_interval)


class _ProgressLog:
    """Log a task's status changes, and its progress at most every :data:`PROGRESS_LOG_SECONDS`.

    A line per poll costs more CPU than the poll itself and floods the trigger log of a long job polled
    at a fixed interval; status changes are what a reader needs, with progress now and then.
    """

    __slots__ = ("_log", "_progress", "_status", "_when")

    def __init__(self, log: Any) -> None:
        self._log = log
        self._status: str | None = None
        self._progress: int | None = None
        self._when = 0.0

    def seen(self, task: TaskState, now: float) -> None:
        if task.raw_status == self._status and (
            task.progress == self._progress or now - self._when < PROGRESS_LOG_SECONDS
        ):
            return
        if task.status is TaskStatus.UNKNOWN and task.raw_status != self._status:
            # A status the API does not document: still running, said once per change of status.
            UnlistedStatusWarning(self._log).check(task)
        self._log.info("Evolink task %s is %s: %d%%", task.id, task.raw_status, task.progress)
        self._status, self._progress, self._when = task.raw_status, task.progress, now


# Connection configs per event loop: conn_id -> (expiry on the monotonic clock, config), or the look-up
# in flight, which every trigger that starts meanwhile awaits instead of starting its own.
_Entry = tuple[float, EvolinkConnectionConfig] | asyncio.Future[EvolinkConnectionConfig]
_CONFIGS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Entry]] = (
    weakref.WeakKeyDictionary()
)


async def _connection_config(conn_id: str, *, refresh: bool = False) -> tuple[EvolinkConnectionConfig, bool]:
    """The connection's config, and whether it came from the loop's cache rather than a fresh read.

    Looking a connection up costs about a millisecond of CPU (the secrets backends, a worker thread);
    thousands of triggers sharing one connection need it once, not once each.
    """
    loop = asyncio.get_running_loop()
    table = _CONFIGS.get(loop)
    if table is None:
        table = _CONFIGS[loop] = {}
    while True:
        entry = table.get(conn_id)
        if not isinstance(entry, asyncio.Future):
            break
        try:
            return await asyncio.shield(entry), False
        except asyncio.CancelledError:
            if not entry.cancelled():
                raise  # this trigger was cancelled
            # The trigger doing the look-up was cancelled: look it up here instead.
    if entry is not None and not refresh and entry[0] > time.monotonic():
        return entry[1], True
    pending: asyncio.Future[EvolinkConnectionConfig] = loop.create_future()
    table[conn_id] = pending
    try:
        config = await EvolinkHook(conn_id).aconnection_config()
    except asyncio.CancelledError:
        table.pop(conn_id, None)
        pending.cancel()
        raise
    except Exception as exc:
        table.pop(conn_id, None)
        pending.set_exception(exc)
        pending.exception()  # mark it retrieved: no warning when no other trigger was waiting
        raise
    table[conn_id] = (time.monotonic() + CONNECTION_CACHE_SECONDS, config)
    pending.set_result(config)
    return config, False

"""Read many waiting triggers' tasks with one request: ``POST /v1/tasks/batch``, up to 50 ids.

A triggerer holding thousands of :class:`~airflow_evolink.triggers.evolink.EvolinkVideoTrigger` would
send one GET per trigger and poll. Instead, each event loop has one :class:`TaskBatchPoller` per
connection (base URL, key and timeouts). A trigger hands it a :class:`Watch`: its task id, retry policy and
its own step function (what it does with an answer: the schedule, the deadline, the final event), then
awaits the watch's future. The poller sends the ids that are due together, 50 to a request, runs each
trigger's step on its task object (in the trigger's own ``contextvars`` context, so progress lines reach
the trigger's log) and queues the watch again for the delay the step returns. The trigger's task wakes
only when its wait is over, or when it must read its task alone: a poll costs no task switch.

Rules, in the order a batch meets them:

* **When.** One timer per poller, set for the earliest due watch. When it fires, every due watch is sent,
  and a batch that is not full is topped up with watches due soon: a wait may end up to
  :data:`EARLY_SHARE` of its length early, never late, so the detection lag of the adaptive schedule and
  of a fixed ``poll_interval`` is kept. A trigger's first observation waits up to
  :data:`FIRST_POLL_WINDOW` for company, so triggers that start one after another share batches at once.
* **Answers.** An id absent from the answer, or a terminal task without result links, resolves the watch
  with :data:`READ_ALONE`: the trigger reads its task with its own GET, exactly as before batching (a 404
  there is the usual not-found error).
* **Failures.** The batch is retried under the triggers' :class:`~airflow_evolink.core.retry.RetryPolicy`
  (``Retry-After``, 429 does not use up attempts); triggers with different policies never share a
  request. When retries run out, every trigger of the batch gets the error, as its GET would have given.
* **Degrading.** 400, 404 or 405 on the batch route (a gateway without it) or an answer of the wrong shape
  switches the connection's poller to single GETs for :data:`REPROBE_SECONDS`; then a batch is tried
  again. Nothing fails because the route is missing.
* **Isolation.** A cancelled trigger only marks its watch dead; a batch whose triggers are all cancelled
  is cancelled. A step that raises ends only its own trigger. Timers and batch requests run in an empty
  ``contextvars`` context, so the poller's own lines go to the triggerer's log, not to whichever trigger
  happened to start a timer.

``AIRFLOW_EVOLINK_BATCH_POLLING=false`` in the triggerer's environment turns batching off (single GETs).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import heapq
import itertools
import math
import os
import weakref
from collections.abc import Callable
from typing import Any

from airflow_evolink.core.errors import EvolinkAPIError, EvolinkError
from airflow_evolink.core.protocol import MAX_BATCH_TASKS, batch_tasks_call
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.core.status import TaskStatus
from airflow_evolink.core.task import parse_task
from airflow_evolink.hooks.async_transport import (
    PreparedCall,
    borrow_session,
    prepare,
    return_session,
    send_with_retries,
)
from airflow_evolink.hooks.connection import EvolinkConnectionConfig

#: Whether triggers batch their polls; ``AIRFLOW_EVOLINK_BATCH_POLLING=false`` turns it off.
BATCH_POLLING = os.environ.get("AIRFLOW_EVOLINK_BATCH_POLLING", "true").strip().lower() not in (
    "0",
    "false",
    "no",
    "off",
)
#: The largest share of a wait by which an observation may come early, to fill a batch.
EARLY_SHARE = 0.2
#: Seconds a trigger's first observation may wait for other triggers to share its batch.
FIRST_POLL_WINDOW = 0.5
#: Seconds a connection whose batch route is missing uses single GETs before it tries a batch again.
REPROBE_SECONDS = 600.0
#: Answers that mean "this gateway has no batch route": fall back to single GETs.
FALLBACK_STATUSES = frozenset({400, 404, 405})
#: A task whose batch entries have not changed for this long is read once with its own GET. Evolink's
#: client says a GET of an unfinished task syncs it with the upstream provider; nothing says a batch read
#: does, so a task that looks stuck in batch answers is confirmed by the route that is known to sync.
STALE_SECONDS = 120.0

#: A timer may fire this much before its time (the loop's clock resolution); due that soon counts as due.
_TIMER_SLACK = 0.001
#: What a trigger gets instead of its task object when it must read the task with its own GET.
READ_ALONE: Any = type("ReadAlone", (), {"__repr__": lambda self: "READ_ALONE", "__slots__": ()})()


class _Batch:
    """One request in flight: how many of its triggers still wait for it, and its task."""

    __slots__ = ("live", "task")

    def __init__(self, live: int) -> None:
        self.live = live
        self.task: asyncio.Task[None] | None = None


#: What a trigger's step returns: seconds until the next observation, or the trigger's final event.
Step = Callable[[Any], "float | dict[str, Any]"]


class Watch:
    """One trigger's wait, as the poller holds it; the trigger awaits :attr:`future`.

    The future ends with the trigger's final event (a dict), :data:`READ_ALONE`, or an ``EvolinkError``.
    """

    __slots__ = ("batch", "earliest", "future", "policy", "seen", "seen_at", "step", "task_id")

    def __init__(self, task_id: str, policy: RetryPolicy, step: Step, future: asyncio.Future[Any]) -> None:
        self.task_id = task_id
        self.policy = policy
        self.step = step
        self.future = future
        self.earliest = 0.0
        self.batch: _Batch | None = None
        # The (status, progress) batch reads last showed, and since when (loop clock).
        self.seen: tuple[Any, Any] | None = None
        self.seen_at = 0.0


class TaskBatchPoller:
    """Batch reads for the triggers of one event loop and one connection; get it from :func:`poller_for`."""

    #: Whether the batch route has answered with task objects on this connection. Until it has, a batch
    #: whose retries run out, or that meets an error no retry helps (a 403, a 501), sends its triggers to
    #: single GETs instead of ending them: the route is not on the public doc pages, and a gateway without
    #: it may refuse it in ways its GET route would not. Set on the instance by the first good answer.
    _proven: bool = False

    def __init__(self, config: EvolinkConnectionConfig, logger: Any) -> None:
        self.config = config
        self._log = logger
        # (due on the loop's clock, sequence, watch): due order, ties in order of arrival.
        self._heap: list[tuple[float, int, Watch]] = []
        self._seq = itertools.count()
        self._dead = 0  # cancelled watches still in the heap
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._fallback_until = -math.inf  # loop clock
        self._template: PreparedCall | None = None
        self._sending: set[asyncio.Task[None]] = set()

    @property
    def batching(self) -> bool:
        """False while the connection uses single GETs because its batch route was missing."""
        return asyncio.get_running_loop().time() >= self._fallback_until

    @property
    def waiting(self) -> int:
        """Watches queued for their next observation (cancelled ones excluded)."""
        return len(self._heap) - self._dead

    def watch(
        self, task_id: str, policy: RetryPolicy, step: Step, delay: float = 0.0, *, first: bool = False
    ) -> Watch:
        """Watch ``task_id`` from ``delay`` seconds on (or a little sooner, to fill a batch).

        ``step`` gets each task object read for it, in the caller's ``contextvars`` context of now, and
        returns the seconds to the next observation or the final event. The caller awaits
        ``watch.future``; if it is cancelled meanwhile, it must call :meth:`forget`.
        """
        loop = asyncio.get_running_loop()
        run = contextvars.copy_context().run
        watch = Watch(task_id, policy, functools.partial(run, step), loop.create_future())  # type: ignore[call-arg]
        now = loop.time()
        if first:
            watch.earliest = now
            self._queue(loop, watch, now + FIRST_POLL_WINDOW)
        else:
            self._queue(loop, watch, now + delay, delay)
        return watch

    def forget(self, watch: Watch) -> None:
        """The trigger awaiting ``watch`` was cancelled: leave the others undisturbed."""
        future = watch.future
        if not future.cancel() and not future.cancelled():
            return  # it had ended: nothing is queued or sent on its behalf
        batch = watch.batch
        if batch is not None:  # in a request: cancel the request once none of its triggers waits
            batch.live -= 1
            if batch.live <= 0 and batch.task is not None:
                batch.task.cancel()
            return
        self._dead += 1
        if self._dead * 2 > len(self._heap):
            # Mostly dead (a triggerer handing its triggers away): drop them now, so nothing keeps the
            # event loop's futures alive once every trigger has gone.
            self._heap = [entry for entry in self._heap if not entry[2].future.done()]
            heapq.heapify(self._heap)
            self._dead = 0
            if not self._heap and self._timer is not None:
                self._timer.cancel()
                self._timer, self._timer_at = None, math.inf

    # ---- sending -----------------------------------------------------------------------------------

    def _queue(self, loop: asyncio.AbstractEventLoop, watch: Watch, due: float, delay: float = -1.0) -> None:
        if delay >= 0.0:
            watch.earliest = due - EARLY_SHARE * delay
        watch.batch = None
        heapq.heappush(self._heap, (due, next(self._seq), watch))
        if due < self._timer_at:
            self._set_timer(loop, due)

    def _set_timer(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._fire, context=contextvars.Context())
        self._timer_at = when

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        loop = asyncio.get_running_loop()
        now = loop.time() + _TIMER_SLACK
        heap = self._heap
        groups: dict[RetryPolicy, list[Watch]] = {}
        while heap and heap[0][0] <= now:
            watch = heapq.heappop(heap)[2]
            if watch.future.done():
                self._dead -= 1
                continue
            groups.setdefault(watch.policy, []).append(watch)
        if now < self._fallback_until:
            for due in groups.values():
                _deliver(due, READ_ALONE)
            groups.clear()
        # Top up the last batch of each group with watches that may come a little early.
        while heap:
            watch = heap[0][2]
            if watch.future.done():
                heapq.heappop(heap)
                self._dead -= 1
                continue
            same = groups.get(watch.policy)
            if watch.earliest > now or same is None or len(same) % MAX_BATCH_TASKS == 0:
                break
            heapq.heappop(heap)
            same.append(watch)
        for policy, group in groups.items():
            for start in range(0, len(group), MAX_BATCH_TASKS):
                self._dispatch(loop, group[start : start + MAX_BATCH_TASKS], policy)
        if heap and self._timer is None:
            self._set_timer(loop, heap[0][0])

    def _dispatch(self, loop: asyncio.AbstractEventLoop, watches: list[Watch], policy: RetryPolicy) -> None:
        batch = _Batch(len(watches))
        for watch in watches:
            watch.batch = batch
        # A fresh context, so no trigger's log routing leaks into the request (create_task's own
        # ``context=`` argument needs Python 3.11).
        task = contextvars.Context().run(loop.create_task, self._send(watches, policy))
        batch.task = task
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, watches: list[Watch], policy: RetryPolicy) -> None:
        by_id: dict[str, list[Watch]] = {}
        for watch in watches:
            by_id.setdefault(watch.task_id, []).append(watch)
        session = borrow_session()
        try:
            call = batch_tasks_call(list(by_id))
            template = self._template
            if template is None:
                template = self._template = await prepare(session, self.config, call)
            prepared = dataclasses.replace(template, body=call.body_bytes())
            data = await send_with_retries(session, self.config, call, policy, self._log, prepared)
        except EvolinkError as exc:
            if not self._proven or (
                isinstance(exc, EvolinkAPIError) and exc.http_status in FALLBACK_STATUSES
            ):
                status = getattr(exc, "http_status", None)
                self._fall_back(f"HTTP {status}" if status else type(exc).__name__)
                _deliver(watches, READ_ALONE)
            else:  # retries ran out, or a failure no retry helps: what each GET would have raised
                for watch in watches:
                    if not watch.future.done():
                        watch.future.set_exception(exc)
            return
        except Exception:  # a bug here must not strand the triggers: they read their tasks alone
            self._log.exception("Evolink batch read failed unexpectedly; the tasks are read one by one")
            _deliver(watches, READ_ALONE)
            return
        finally:
            await return_session(session)
        try:
            self._answer(watches, by_id, data)
        except Exception:  # as above; the watches it queued again stay queued
            self._log.exception("Evolink batch answer could not be read; the tasks are read one by one")
            _deliver([watch for watch in watches if watch.batch is not None], READ_ALONE)

    def _answer(self, watches: list[Watch], by_id: dict[str, list[Watch]], data: Any) -> None:
        """Hand each watch its task object (or READ_ALONE) and queue the ones still running."""
        items = _items_by_id(data)
        if items is None:
            self._fall_back('an answer that is not {"data": [task objects]}')
            _deliver(watches, READ_ALONE)
            return
        if not items.keys().isdisjoint(by_id):
            self._proven = True
        loop = asyncio.get_running_loop()
        now = loop.time()
        for task_id, waiting in by_id.items():
            item = items.get(task_id)
            alone = item is None or _lacks_results(item)
            seen = None if item is None or alone else (item.get("status"), item.get("progress"))
            for watch in waiting:
                future = watch.future
                if future.done():
                    continue  # cancelled meanwhile
                if not alone and seen != watch.seen:
                    watch.seen, watch.seen_at = seen, now
                if alone or now - watch.seen_at >= STALE_SECONDS:
                    future.set_result(READ_ALONE)
                    continue
                try:
                    step = watch.step(item)
                except EvolinkError:  # an item the trigger cannot read: its own GET decides
                    future.set_result(READ_ALONE)
                    continue
                except Exception as exc:  # a bug in one trigger's step ends that trigger only
                    future.set_exception(exc)
                    continue
                if isinstance(step, dict):
                    future.set_result(step)
                else:
                    self._queue(loop, watch, now + step, step)

    def _fall_back(self, why: str) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() < self._fallback_until:
            return
        self._fallback_until = loop.time() + REPROBE_SECONDS
        self._log.warning(
            "Evolink answered POST /v1/tasks/batch with %s at %s: its tasks are polled with one GET each, "
            "and a batch read is tried again in %.0f s",
            why,
            self.config.base_url,
            REPROBE_SECONDS,
        )


def _deliver(watches: list[Watch], result: Any) -> None:
    for watch in watches:
        if not watch.future.done():
            watch.future.set_result(result)


def _items_by_id(data: Any) -> dict[str, Any] | None:
    """The answer's task objects by id, or None when it is not ``{"data": [...]}``."""
    items = data.get("data") if type(data) is dict else None
    if type(items) is not list:
        return None
    out: dict[str, Any] = {}
    for item in items:
        if type(item) is dict:
            task_id = item.get("id") or item.get("task_id")
            if type(task_id) is str:
                out[task_id] = item
    return out


def _lacks_results(item: dict[str, Any]) -> bool:
    """A terminal task whose batch entry has no result links: its own GET reads the full task."""
    if not TaskStatus.parse(item.get("status")).is_terminal:
        return False
    try:
        return not parse_task(item).results
    except EvolinkError:
        return True


# One poller per event loop and connection config (base URL, key, timeouts). The poller keeps no
# reference to its loop once no trigger waits, so a closed loop is freed with its table.
_POLLERS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[EvolinkConnectionConfig, TaskBatchPoller]
] = weakref.WeakKeyDictionary()


def poller_for(config: EvolinkConnectionConfig, logger: Any) -> TaskBatchPoller:
    """The running loop's poller for ``config``, created on first use."""
    loop = asyncio.get_running_loop()
    table = _POLLERS.get(loop)
    if table is None:
        table = _POLLERS[loop] = {}
    poller = table.get(config)
    if poller is None:
        poller = table[config] = TaskBatchPoller(config, logger)
    return poller

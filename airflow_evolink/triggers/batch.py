"""Read many waiting triggers' tasks with one request: ``POST /v1/tasks/batch``, up to 50 ids.

A triggerer holding thousands of :class:`~airflow_evolink.triggers.evolink.EvolinkVideoTrigger` would
send one GET per trigger and poll. Instead, each event loop has one :class:`TaskBatchPoller` per
connection (base URL, key and timeouts): a trigger registers its task id and when it wants its next
observation, and awaits its own future; the poller sends the ids that are due together, 50 to a request,
and hands each trigger its own task object. What the trigger does with it (schedule, deadline, events)
is unchanged.

Rules, in the order a batch meets them:

* **When.** One timer per poller, set for the earliest due registration. When it fires, every due
  registration is sent, and a batch that is not full is topped up with registrations due soon: a wait
  may end up to :data:`EARLY_SHARE` of its length early, never late, so the detection lag of the
  adaptive schedule and of a fixed ``poll_interval`` is kept. A trigger's first observation waits up to
  :data:`FIRST_POLL_WINDOW` for company, so triggers that start one after another share batches at once.
* **Answers.** An id absent from the answer, or a terminal task without result links, is answered with
  :data:`READ_ALONE`: the trigger reads it with its own GET, exactly as before batching (a 404 there is
  the usual not-found error).
* **Failures.** The batch is retried under the triggers' :class:`~airflow_evolink.core.retry.RetryPolicy`
  (``Retry-After``, 429 does not use up attempts); triggers with different policies never share a
  request. When retries run out, every trigger of the batch gets the error, as its GET would have given.
* **Degrading.** 400, 404 or 405 on the batch route (a gateway without it) or an answer of the wrong shape
  switches the connection's poller to single GETs for :data:`REPROBE_SECONDS`; then a batch is tried
  again. Nothing fails because the route is missing.
* **Isolation.** A cancelled trigger only marks its registration dead; a batch whose triggers are all
  cancelled is cancelled. Timer callbacks and batch requests run in an empty ``contextvars`` context, so
  their log lines go to the triggerer's log, not to whichever trigger happened to start the timer. The
  poller never raises into a trigger anything but the ``EvolinkError`` its own GET could have raised.

``AIRFLOW_EVOLINK_BATCH_POLLING=false`` in the triggerer's environment turns batching off (single GETs).
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import heapq
import itertools
import math
import os
import weakref
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


class Registration:
    """One trigger's wish for its next observation; it awaits :attr:`future`."""

    __slots__ = ("batch", "earliest", "future", "policy", "task_id")

    def __init__(
        self, task_id: str, earliest: float, policy: RetryPolicy, future: asyncio.Future[Any]
    ) -> None:
        self.task_id = task_id
        self.earliest = earliest
        self.policy = policy
        self.future = future
        self.batch: _Batch | None = None


class TaskBatchPoller:
    """Batch reads for the triggers of one event loop and one connection; get it from :func:`poller_for`."""

    def __init__(self, config: EvolinkConnectionConfig, logger: Any) -> None:
        self.config = config
        self._log = logger
        # (due on the loop's clock, sequence, registration): due order, ties in order of arrival.
        self._heap: list[tuple[float, int, Registration]] = []
        self._seq = itertools.count()
        self._dead = 0  # cancelled registrations still in the heap
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
        """Registrations waiting to be sent (cancelled ones excluded)."""
        return len(self._heap) - self._dead

    def submit(self, task_id: str, delay: float, policy: RetryPolicy, *, first: bool = False) -> Registration:
        """Register ``task_id`` for an observation in ``delay`` seconds (or sooner, to fill a batch).

        The caller awaits ``registration.future``: a task object, :data:`READ_ALONE`, or an
        ``EvolinkError``; if it is cancelled meanwhile, it must call :meth:`forget`.
        """
        loop = asyncio.get_running_loop()
        now = loop.time()
        if first:
            due, earliest = now + FIRST_POLL_WINDOW, now
        else:
            due = now + delay
            earliest = due - EARLY_SHARE * delay
        registration = Registration(task_id, earliest, policy, loop.create_future())
        heapq.heappush(self._heap, (due, next(self._seq), registration))
        if due < self._timer_at:
            self._set_timer(loop, due)
        return registration

    def forget(self, registration: Registration) -> None:
        """The trigger waiting on ``registration`` was cancelled: leave the others undisturbed."""
        future = registration.future
        if not future.cancel() and not future.cancelled():
            return  # it had been answered: nothing waits on its behalf
        batch = registration.batch
        if batch is not None:  # already sent: cancel the request once none of its triggers waits
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
        groups: dict[RetryPolicy, list[Registration]] = {}
        while heap and heap[0][0] <= now:
            registration = heapq.heappop(heap)[2]
            if registration.future.done():
                self._dead -= 1
                continue
            groups.setdefault(registration.policy, []).append(registration)
        if now < self._fallback_until:
            for due in groups.values():
                _deliver(due, READ_ALONE)
            groups.clear()
        # Top up the last batch of each group with registrations that may come a little early.
        while heap:
            registration = heap[0][2]
            if registration.future.done():
                heapq.heappop(heap)
                self._dead -= 1
                continue
            same = groups.get(registration.policy)
            if registration.earliest > now or same is None or len(same) % MAX_BATCH_TASKS == 0:
                break
            heapq.heappop(heap)
            same.append(registration)
        for policy, group in groups.items():
            for start in range(0, len(group), MAX_BATCH_TASKS):
                self._dispatch(loop, group[start : start + MAX_BATCH_TASKS], policy)
        if heap:
            self._set_timer(loop, heap[0][0])

    def _dispatch(
        self, loop: asyncio.AbstractEventLoop, registrations: list[Registration], policy: RetryPolicy
    ) -> None:
        batch = _Batch(len(registrations))
        for registration in registrations:
            registration.batch = batch
        task = loop.create_task(self._send(registrations, policy), context=contextvars.Context())
        batch.task = task
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, registrations: list[Registration], policy: RetryPolicy) -> None:
        by_id: dict[str, list[Registration]] = {}
        for registration in registrations:
            by_id.setdefault(registration.task_id, []).append(registration)
        session = borrow_session()
        try:
            call = batch_tasks_call(list(by_id))
            template = self._template
            if template is None:
                template = self._template = await prepare(session, self.config, call)
            prepared = dataclasses.replace(template, body=call.body_bytes())
            data = await send_with_retries(session, self.config, call, policy, self._log, prepared)
        except EvolinkError as exc:
            if isinstance(exc, EvolinkAPIError) and exc.http_status in FALLBACK_STATUSES:
                self._fall_back(f"HTTP {exc.http_status}")
                _deliver(registrations, READ_ALONE)
            else:  # retries ran out, or a failure no retry helps: what each GET would have raised
                for registration in registrations:
                    if not registration.future.done():
                        registration.future.set_exception(exc)
            return
        except Exception:  # a bug here must not strand the triggers: they read their tasks alone
            self._log.exception("Evolink batch read failed unexpectedly; the tasks are read one by one")
            _deliver(registrations, READ_ALONE)
            return
        finally:
            await return_session(session)
        items = _items_by_id(data)
        del data
        if items is None:
            self._fall_back('an answer that is not {"data": [task objects]}')
            _deliver(registrations, READ_ALONE)
            return
        for task_id, waiting in by_id.items():
            item = items.get(task_id)
            result = READ_ALONE if item is None or _lacks_results(item) else item
            for registration in waiting:
                if not registration.future.done():
                    registration.future.set_result(result)

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


def _deliver(registrations: list[Registration], result: Any) -> None:
    for registration in registrations:
        if not registration.future.done():
            registration.future.set_result(result)


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

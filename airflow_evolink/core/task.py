"""The task object returned by POST /v1/videos/generations and GET /v1/tasks/{id}, parsed defensively."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from airflow_evolink.core.errors import EvolinkResponseError, EvolinkTaskFailedError
from airflow_evolink.core.status import TaskStatus


class TaskError(BaseModel):
    """The ``error`` object of a failed task: a business code (a string, not an HTTP status) and a message.

    Evolink's client also reads ``type`` and a ``suggestion`` (or ``fallback_suggestion``) there; the
    suggestion is shown to the user with the failure.
    """

    model_config = ConfigDict(frozen=True)

    code: str | None = None
    message: str | None = None
    type: str | None = None
    suggestion: str | None = None


class TaskBilling(BaseModel):
    """The ``billing`` object of a task: what Evolink reserved, charged and refunded, in credits.

    A refund counts as done only when every sign of it agrees (:attr:`refund_proven`), as Evolink's own
    client reads it (``tools/task-billing.js``): a failed task's reservation is otherwise still held.
    """

    model_config = ConfigDict(frozen=True)

    charge_status: str | None = None
    refund_status: str | None = None
    reserved_credits: float | None = None
    charged_credits: float | None = None
    refunded_credits: float | None = None
    refunded_at: str | None = None

    @property
    def refund_proven(self) -> bool:
        """refund_status completed, charge_status released, refunded_at set, refunded = reserved."""
        return (
            self.refund_status == "completed"
            and self.charge_status == "released"
            and bool(self.refunded_at)
            and self.refunded_credits is not None
            and self.refunded_credits == self.reserved_credits
        )


class EvolinkTask(BaseModel):
    """A typed view of an Evolink task. ``raw_status`` keeps the status string as the API sent it."""

    model_config = ConfigDict(frozen=True)

    id: str
    raw_status: str
    status: TaskStatus
    progress: int = 0
    model: str | None = None
    created: int | None = None
    type: str | None = None
    results: list[str] = Field(default_factory=list)
    error: TaskError | None = None
    estimated_time: float | None = None
    video_duration: float | None = None
    can_cancel: bool | None = None
    credits_reserved: float | None = None
    credits_used: float | None = None
    cost_usd: float | None = None
    billing_rule: str | None = None
    charge_status: str | None = None
    cost_credits: float | None = None
    #: ``usage.cost`` as a bare number: its unit is not documented (only ``cost{credits, usd}`` is), so it
    #: is kept as reported and never read as credits charged.
    cost_reported: float | None = None
    billing: TaskBilling | None = None
    idempotency_replayed: bool = False
    request_id: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_success(self) -> bool:
        return self.status.is_success

    @property
    def charged_credits(self) -> float | None:
        """What Evolink charged, in credits: ``billing.charged_credits``, else ``usage.cost.credits``, else
        ``usage.credits_used``; 0 only after a proven refund; ``None`` while nobody says."""
        return charged_credits_of(self.to_xcom())

    def failure(self) -> EvolinkTaskFailedError:
        """The error that describes why this terminal, unsuccessful task did not produce a video."""
        if self.status is TaskStatus.COMPLETED:
            return EvolinkTaskFailedError(
                self.id, "completed", "no_results", "the task completed but returned no result URLs"
            )
        code = self.error.code if self.error else None
        message = self.error.message if self.error else None
        suggestion = self.error.suggestion if self.error else None
        if self.status is TaskStatus.CANCELLED:
            code = code or "request_cancelled"
            message = message or "the task was cancelled"
        elif not self.status.is_terminal:
            message = message or f"the task has not ended (status {self.raw_status!r})"
        return EvolinkTaskFailedError(
            self.id, self.raw_status or "unknown", code, message, suggestion=suggestion
        )

    def to_xcom(self) -> dict[str, Any]:
        """A JSON-safe dict for XCom. Tasks hold no secrets, so everything the API returned is kept."""
        data = self.model_dump(mode="json")
        data["status"] = self.raw_status
        data.pop("raw_status", None)
        return data

    def to_event(self) -> dict[str, Any]:
        """The task for a trigger event: only the fields that say something (the event is logged whole)."""
        # `is` for False: 0 credits used (a refund) and 0 % progress are facts, not gaps.
        return {
            key: value
            for key, value in self.to_xcom().items()
            if not (value is None or value is False or value == [] or value == {})
        }


class UnlistedStatusWarning:
    """Warn once per status when a wait meets one the API does not document; the wait goes on."""

    __slots__ = ("_log", "_seen")

    def __init__(self, log: Any) -> None:
        self._log = log
        self._seen: set[str] | None = None

    def check(self, task: EvolinkTask | TaskState) -> None:
        if task.status is not TaskStatus.UNKNOWN:
            return
        seen = self._seen if self._seen is not None else set()
        self._seen = seen
        if task.raw_status in seen:
            return
        seen.add(task.raw_status)
        self._log.warning(
            "Evolink task %s reports status %r, which the API does not document; it is treated as still "
            "running (only completed, failed and cancelled end a task) and polled until it ends or the "
            "wait times out",
            task.id,
            task.raw_status,
        )


class TaskState(NamedTuple):
    """The few fields a poll loop reads from every answer: has the task ended, and when to poll next.

    :func:`parse_state` builds it with the same rules as :func:`parse_task`, without the full model: a
    triggerer holding thousands of deferred sensors parses thousands of answers a second, and needs the
    full :class:`EvolinkTask` only for the one that ends the wait.
    """

    id: str
    raw_status: str
    status: TaskStatus
    progress: int
    created: int | None
    estimated_time: float | None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal


def parse_state(data: Any) -> TaskState:
    """The :class:`TaskState` of a decoded JSON body; it raises exactly when :func:`parse_task` would."""
    # The usual answer (a task object with a string status, a progress of 0-100, an integer ``created``)
    # is read with a handful of type checks, once per poll; anything else takes the general rules.
    if type(data) is dict:
        task_id = data.get("id")
        raw_status = data.get("status")
        progress = data.get("progress")
        created = data.get("created")
        if (
            type(task_id) is str
            and task_id
            and type(raw_status) is str
            and type(progress) is int
            and 0 <= progress <= 100
            and (created is None or (type(created) is int and -_EXACT_INT <= created <= _EXACT_INT))
        ):
            info = data.get("task_info")
            estimated = _float_or_none(info.get("estimated_time")) if isinstance(info, dict) else None
            status = TaskStatus.parse(raw_status)
            return _new_state(TaskState, (task_id, raw_status, status, progress, created, estimated))
    return _parse_state(data)


def _parse_state(data: Any) -> TaskState:
    body, task_id = _task_body(data)
    raw_status = str(body.get("status") or "")
    info = body.get("task_info")
    return TaskState(
        task_id,
        raw_status,
        TaskStatus.parse(raw_status),
        _progress(body.get("progress")),
        _int_or_none(body.get("created")),
        _float_or_none(info.get("estimated_time")) if isinstance(info, dict) else None,
    )


# TaskState's own __new__ is a Python function; building the tuple directly skips that call.
_new_state = tuple.__new__


def parse_task(data: Any) -> EvolinkTask:
    """Build an :class:`EvolinkTask` from a decoded JSON body, tolerating missing or odd fields.

    Only a missing task id is fatal: without it nothing can be polled.
    """
    data, task_id = _task_body(data)
    get = data.get
    raw_status = str(get("status") or "")
    info = get("task_info")
    if not isinstance(info, dict):
        info = _EMPTY
    usage = get("usage")
    if not isinstance(usage, dict):
        usage = _EMPTY
    can_cancel = info.get("can_cancel")
    cost = usage.get("cost")
    billing = _billing(get("billing"))
    replayed = get("idempotency_replayed")
    return EvolinkTask(
        id=task_id,
        raw_status=raw_status,
        status=TaskStatus.parse(raw_status),
        progress=_progress(get("progress")),
        model=_str_or_none(get("model")),
        created=_int_or_none(get("created")),
        type=_str_or_none(get("type")),
        results=_result_urls(data),
        error=_task_error(get("error")),
        estimated_time=_float_or_none(info.get("estimated_time")),
        video_duration=_float_or_none(info.get("video_duration")),
        can_cancel=can_cancel if isinstance(can_cancel, bool) else None,
        credits_reserved=_float_or_none(usage.get("credits_reserved")),
        credits_used=_credits_used(usage, cost),
        cost_usd=_float_or_none(cost.get("usd")) if isinstance(cost, dict) else None,
        billing_rule=_str_or_none(usage.get("billing_rule")),
        charge_status=billing.charge_status if billing is not None else None,
        cost_credits=_float_or_none(cost.get("credits")) if isinstance(cost, dict) else None,
        cost_reported=None if isinstance(cost, dict) else _float_or_none(cost),
        billing=billing,
        idempotency_replayed=replayed is True,
        request_id=_str_or_none(get("request_id")),
    )


def _task_body(data: Any) -> tuple[dict[str, Any], str]:
    """The task object (some answers wrap it in ``data``) and its id; raises when either is missing."""
    if not isinstance(data, dict):
        raise EvolinkResponseError(f"Expected a JSON object for an Evolink task, got {type(data).__name__}")
    if "id" not in data and isinstance(data.get("data"), dict):
        data = data["data"]
    task_id = data.get("id") or data.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise EvolinkResponseError("Evolink task response has no task id")
    return data, task_id


_EMPTY: dict[str, Any] = {}
# Integers up to 2**53 survive a round trip through float unchanged.
_EXACT_INT = 2**53


def _result_urls(data: dict[str, Any]) -> list[str]:
    """Result links wherever the model family puts them, in order, without duplicates.

    ``results[]`` is the documented place; some families answer ``result_data`` (a list or one object),
    ``output.video_url`` or a top-level ``video_url`` (evolink-cli ``tools/task-format.js`` and section 9
    of the API notes).
    """
    urls: list[str] = []

    def add(value: Any) -> None:
        if isinstance(value, str) and value and value not in urls:
            urls.append(value)

    def add_item(item: Any) -> None:
        if isinstance(item, str):
            add(item)
        elif isinstance(item, dict):
            add(item.get("video_url") or item.get("url"))

    results = data.get("results")
    if isinstance(results, list):
        for item in results:
            add_item(item)
    result_data = data.get("result_data")
    for item in result_data if isinstance(result_data, list) else [result_data]:
        if isinstance(item, dict):
            add_item(item)
    output = data.get("output")
    if isinstance(output, dict):
        add_item(output)
    elif isinstance(output, list):
        for item in output:
            add_item(item)
    add(data.get("video_url"))
    return urls


def _billing(data: Any) -> TaskBilling | None:
    if not isinstance(data, dict):
        return None
    return TaskBilling(
        charge_status=_str_or_none(data.get("charge_status")),
        refund_status=_str_or_none(data.get("refund_status")),
        reserved_credits=_float_or_none(data.get("reserved_credits")),
        charged_credits=_float_or_none(data.get("charged_credits")),
        refunded_credits=_float_or_none(data.get("refunded_credits")),
        refunded_at=_str_or_none(data.get("refunded_at")),
    )


def refund_proven(task: dict[str, Any] | Any) -> bool:
    """Whether a task as pushed to XCom (``evolink_task``) carries a proven refund (see :class:`TaskBilling`)."""
    billing = task.get("billing") if isinstance(task, dict) else None
    if not isinstance(billing, dict):
        return False
    return _billing(billing).refund_proven  # type: ignore[union-attr]


def charged_credits_of(task: Any) -> float | None:
    """What a task as pushed to XCom says was charged, in credits (a unit the API states).

    ``billing.charged_credits`` (once ``charge_status`` is ``charged``), else ``usage.cost.credits``, else
    ``usage.credits_used``; 0 only after a proven refund; ``None`` when no figure is given (a reservation
    is not a charge) or a zero comes without the proof of a refund.
    """
    if not isinstance(task, dict):
        return None
    if refund_proven(task):
        return 0.0
    billing = task.get("billing")
    figures = [task.get("cost_credits"), task.get("credits_used")]
    if isinstance(billing, dict) and billing.get("charge_status") == "charged":
        figures.insert(0, billing.get("charged_credits"))
    for figure in figures:
        value = _float_or_none(figure)
        if value is not None:
            # A zero without the proof of a refund says nothing certain about the money.
            return value if value else None
    return None


def _credits_used(usage: dict[str, Any], cost: Any) -> float | None:
    """``usage.credits_used``, else ``usage.cost.credits``. A bare numeric ``usage.cost`` has no documented
    unit: it is ``cost_reported``, never credits."""
    used = _float_or_none(usage.get("credits_used"))
    if used is not None:
        return used
    if isinstance(cost, dict):
        return _float_or_none(cost.get("credits"))
    return None


def _task_error(error: Any) -> TaskError | None:
    if isinstance(error, dict):
        suggestion = error.get("suggestion") or error.get("fallback_suggestion")
        return TaskError(
            code=_code_or_none(error.get("code")),
            message=_str_or_none(error.get("message")),
            type=_str_or_none(error.get("type")),
            suggestion=_str_or_none(suggestion),
        )
    if isinstance(error, str) and error:
        return TaskError(code=None, message=error)
    return None


def _code_or_none(value: Any) -> str | None:
    """An error code as text: the API sends strings, some pages show integers."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    return str(value)


def _progress(value: Any) -> int:
    if type(value) is int and 0 <= value <= 100:  # the usual answer
        return value
    number = _float_or_none(value)
    if number is None:
        return 0
    return max(0, min(100, int(number)))


def _float_or_none(value: Any) -> float | None:
    """A finite number, or None: NaN, infinities and non-numbers from a broken server are dropped."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int and -_EXACT_INT <= value <= _EXACT_INT:  # e.g. estimated_time: 60
        return float(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, str)):
        try:
            number = float(value)
        except (ValueError, OverflowError):
            return None
        return number if math.isfinite(number) else None
    return None


def _int_or_none(value: Any) -> int | None:
    if type(value) is int and -_EXACT_INT <= value <= _EXACT_INT:  # what int(float(value)) gives
        return value
    number = _float_or_none(value)
    return int(number) if number is not None else None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)

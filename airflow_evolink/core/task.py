"""The task object returned by POST /v1/videos/generations and GET /v1/tasks/{id}, parsed defensively."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airflow_evolink.core.errors import EvolinkResponseError, EvolinkTaskFailedError
from airflow_evolink.core.status import TaskStatus


class TaskError(BaseModel):
    """The ``error`` object of a failed task: a business code (a string, not an HTTP status) and a message."""

    model_config = ConfigDict(frozen=True)

    code: str | None = None
    message: str | None = None


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
    billing_rule: str | None = None

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def is_success(self) -> bool:
        return self.status.is_success

    def failure(self) -> EvolinkTaskFailedError:
        """The error that describes why this terminal, unsuccessful task did not produce a video."""
        if self.status is TaskStatus.COMPLETED:
            return EvolinkTaskFailedError(
                self.id, "completed", "no_results", "the task completed but returned no result URLs"
            )
        code = self.error.code if self.error else None
        message = self.error.message if self.error else None
        if self.status is TaskStatus.CANCELLED:
            code = code or "request_cancelled"
            message = message or "the task was cancelled"
        elif self.status is TaskStatus.UNKNOWN:
            message = message or f"Evolink reported a status this provider does not know: {self.raw_status!r}"
        return EvolinkTaskFailedError(self.id, self.raw_status or "unknown", code, message)

    def to_xcom(self) -> dict[str, Any]:
        """A JSON-safe dict for XCom. Tasks hold no secrets, so everything the API returned is kept."""
        data = self.model_dump(mode="json")
        data["status"] = self.raw_status
        data.pop("raw_status", None)
        return data


def parse_task(data: Any) -> EvolinkTask:
    """Build an :class:`EvolinkTask` from a decoded JSON body, tolerating missing or odd fields.

    Only a missing task id is fatal: without it nothing can be polled.
    """
    if not isinstance(data, dict):
        raise EvolinkResponseError(f"Expected a JSON object for an Evolink task, got {type(data).__name__}")
    if isinstance(data.get("data"), dict) and "id" not in data:
        data = data["data"]
    task_id = data.get("id") or data.get("task_id")
    if not isinstance(task_id, str) or not task_id:
        raise EvolinkResponseError("Evolink task response has no task id")
    raw_status = str(data.get("status") or "")
    info = data.get("task_info") if isinstance(data.get("task_info"), dict) else {}
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    error = data.get("error")
    return EvolinkTask(
        id=task_id,
        raw_status=raw_status,
        status=TaskStatus.parse(raw_status),
        progress=_progress(data.get("progress")),
        model=_str_or_none(data.get("model")),
        created=_int_or_none(data.get("created")),
        type=_str_or_none(data.get("type")),
        results=_result_urls(data),
        error=_task_error(error),
        estimated_time=_float_or_none(info.get("estimated_time")),
        video_duration=_float_or_none(info.get("video_duration")),
        can_cancel=info.get("can_cancel") if isinstance(info.get("can_cancel"), bool) else None,
        credits_reserved=_float_or_none(usage.get("credits_reserved")),
        credits_used=_float_or_none(usage.get("credits_used", usage.get("cost"))),
        billing_rule=_str_or_none(usage.get("billing_rule")),
    )


def _result_urls(data: dict[str, Any]) -> list[str]:
    urls: list[str] = []
    results = data.get("results")
    if isinstance(results, list):
        for item in results:
            if isinstance(item, str) and item:
                urls.append(item)
            elif isinstance(item, dict):
                url = item.get("url") or item.get("video_url")
                if isinstance(url, str) and url:
                    urls.append(url)
    result_data = data.get("result_data")
    if isinstance(result_data, list):
        for item in result_data:
            if isinstance(item, dict):
                url = item.get("video_url") or item.get("url")
                if isinstance(url, str) and url and url not in urls:
                    urls.append(url)
    return urls


def _task_error(error: Any) -> TaskError | None:
    if isinstance(error, dict):
        return TaskError(code=_str_or_none(error.get("code")), message=_str_or_none(error.get("message")))
    if isinstance(error, str) and error:
        return TaskError(code=None, message=error)
    return None


def _progress(value: Any) -> int:
    number = _float_or_none(value)
    if number is None:
        return 0
    return max(0, min(100, int(number)))


def _float_or_none(value: Any) -> float | None:
    """A finite number, or None: NaN, infinities and non-numbers from a broken server are dropped."""
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
    number = _float_or_none(value)
    return int(number) if number is not None else None


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)

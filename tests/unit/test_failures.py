"""Evolink outcomes become the right Airflow outcome: retryable -> AirflowException, else AirflowFailException."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_evolink.core.errors import (
    EvolinkConnectionError,
    EvolinkError,
    EvolinkOutcomeUnknownError,
    EvolinkResponseError,
    EvolinkTaskFailedError,
    EvolinkTimeoutError,
    EvolinkValidationError,
)
from airflow_evolink.core.protocol import error_from_response
from airflow_evolink.core.task import parse_task
from airflow_evolink.links.evolink import (
    GALLERY_AVAILABLE,
    EvolinkTaskLink,
    EvolinkVideoLink,
    gallery_path,
)
from airflow_evolink.utils import xcom_keys
from airflow_evolink.utils.events import finish_task, result_from_event
from airflow_evolink.utils.failures import check_task_succeeded, raise_airflow_error
from airflow_evolink.version_compat import AirflowException, AirflowFailException

TASK_ID = "task-unified-1757169743-7cvnl5zw"
URL = "https://files.example.com/v.mp4"


class RecordingTI:
    dag_id = "videos"
    run_id = "manual__2026-12-01T12:00:00+00:00"
    task_id = "submit"
    map_index = 3

    def __init__(self) -> None:
        self.pushed: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed.append((key, value))

    def value(self, key: str) -> Any:
        values = [value for pushed_key, value in self.pushed if pushed_key == key]
        assert values, f"nothing pushed under {key!r}: {self.pushed}"
        return values[-1]


class StubHook:
    def task_url(self, task_id: str) -> str:
        return f"https://api.evolink.ai/v1/tasks/{task_id}"


def _page(video: bool) -> str:
    if not GALLERY_AVAILABLE:
        return URL if video else ""
    ti = RecordingTI
    return gallery_path(ti.dag_id, ti.run_id, ti.task_id, ti.map_index, video=video)


def assert_link(ti: RecordingTI, link: Any, expected: str) -> None:
    """The link's URL was pushed; where it has none (no task page on Airflow 3.0), nothing was."""
    if expected:
        assert ti.value(link().xcom_key) == expected
    else:
        assert link().xcom_key not in [key for key, _ in ti.pushed]


TASK_PAGE = _page(video=False)
VIDEO_PAGE = _page(video=True)


@pytest.fixture
def context() -> dict[str, Any]:
    return {"ti": RecordingTI(), "task": None}


def task(**data: Any) -> Any:
    return parse_task({"id": TASK_ID, **data})


def assert_retryable(raised: pytest.ExceptionInfo[BaseException]) -> None:
    assert isinstance(raised.value, AirflowException)
    assert not isinstance(raised.value, AirflowFailException)


# ---- raise_airflow_error -----------------------------------------------------------------------------

RETRYABLE: list[EvolinkError] = [
    error_from_response(429, {}, b""),
    error_from_response(503, {}, b""),
    error_from_response(500, {}, b""),
    EvolinkConnectionError("refused", sent=False),
    EvolinkResponseError("truncated"),
    EvolinkTaskFailedError(TASK_ID, "failed", "service_error", "internal"),
    # The key belongs to the task instance: the next try re-sends it and the ledger answers with the job.
    EvolinkOutcomeUnknownError(error_from_response(500, {}, b""), idempotency_key="airflow-0123456789abcdef"),
    error_from_response(402, {}, b'{"error": {"code": "key_daily_quota_exhausted", "message": "daily"}}'),
]
NOT_RETRYABLE: list[EvolinkError] = [
    error_from_response(400, {}, b""),
    error_from_response(401, {}, b""),
    error_from_response(402, {}, b""),
    error_from_response(404, {}, b""),
    EvolinkValidationError("duration", "must be an integer from 3 to 15 seconds", 99),
    error_from_response(402, {}, b'{"error": {"code": "insufficient_quota", "message": "top up"}}'),
    error_from_response(409, {}, b'{"error": {"code": "idempotency_conflict", "message": "other body"}}'),
    EvolinkTaskFailedError(TASK_ID, "failed", "content_policy_violation", "blocked"),
    EvolinkTaskFailedError(TASK_ID, "cancelled", "request_cancelled", "cancelled"),
    EvolinkTimeoutError(TASK_ID, 3600.0, "processing"),
]


@pytest.mark.parametrize("exc", RETRYABLE, ids=repr)
def test_retryable_error_raises_plain_airflow_exception(exc):
    with pytest.raises(AirflowException) as raised:
        raise_airflow_error(exc)
    assert_retryable(raised)
    assert str(raised.value) == str(exc)
    assert raised.value.__cause__ is exc


@pytest.mark.parametrize("exc", NOT_RETRYABLE, ids=repr)
def test_non_retryable_error_raises_fail_exception(exc):
    with pytest.raises(AirflowFailException) as raised:
        raise_airflow_error(exc)
    assert str(raised.value) == str(exc)
    assert raised.value.__cause__ is exc


# ---- check_task_succeeded ----------------------------------------------------------------------------


def test_completed_task_returns_urls():
    assert check_task_succeeded(task(status="completed", results=[URL, URL + "2"])) == [URL, URL + "2"]


def test_completed_without_results_fails_for_good():
    with pytest.raises(AirflowFailException, match="no result URLs"):
        check_task_succeeded(task(status="completed", results=[]))


@pytest.mark.parametrize(
    "code",
    [
        "content_policy_violation",
        "invalid_parameters",
        "image_dimension_mismatch",
        # Evolink: "do not generate again automatically".
        "generation_failed_no_content",
        "unknown_error",
        None,
    ],
)
def test_failed_with_input_problem_fails_for_good(code):
    with pytest.raises(AirflowFailException) as raised:
        check_task_succeeded(task(status="failed", error={"code": code, "message": "details here"}))
    assert (code or "") in str(raised.value) and "details here" in str(raised.value)


@pytest.mark.parametrize("code", ["service_error", "generation_timeout", "resource_exhausted"])
def test_failed_with_transient_problem_is_retried_by_airflow(code):
    with pytest.raises(AirflowException) as raised:
        check_task_succeeded(task(status="failed", error={"code": code, "message": "try later"}))
    assert_retryable(raised)
    assert "try later" in str(raised.value)


@pytest.mark.parametrize("status", ["cancelled", "weird"])
def test_cancelled_or_unknown_fails_for_good(status):
    with pytest.raises(AirflowFailException, match=status):
        check_task_succeeded(task(status=status))


def test_finish_task_pushes_the_task_and_video_link(context):
    urls = finish_task(context, task(status="completed", results=[URL]))
    assert urls == [URL]
    ti = context["ti"]
    assert ti.value(xcom_keys.EVOLINK_TASK)["status"] == "completed"
    assert ti.value(xcom_keys.RESULT_URLS) == [URL]
    assert ti.value(EvolinkVideoLink().xcom_key) == VIDEO_PAGE


def test_finish_task_pushes_the_task_even_when_it_failed(context):
    with pytest.raises(AirflowFailException):
        finish_task(context, task(status="failed", error={"code": "content_policy_violation"}))
    assert context["ti"].value(xcom_keys.EVOLINK_TASK)["error"]["code"] == "content_policy_violation"


# ---- result_from_event -------------------------------------------------------------------------------


def test_success_event_returns_urls_and_pushes_links(context):
    event = {
        "status": "success",
        "evolink_task_id": TASK_ID,
        "result_urls": [URL],
        "task": {"id": TASK_ID, "status": "completed"},
        "message": "completed",
    }
    assert result_from_event(context, event, StubHook()) == [URL]
    ti = context["ti"]
    assert_link(ti, EvolinkTaskLink, TASK_PAGE)
    assert ti.value(xcom_keys.EVOLINK_TASK) == event["task"]
    assert ti.value(xcom_keys.RESULT_URLS) == [URL]
    assert ti.value(EvolinkVideoLink().xcom_key) == VIDEO_PAGE
    # One entry per fact: no copy of the API's task URL (it needs the key) and no empty links.
    task_link = ["_link_EvolinkTaskLink"] if GALLERY_AVAILABLE else []
    assert sorted(key for key, _ in ti.pushed) == sorted(
        [xcom_keys.EVOLINK_TASK, xcom_keys.RESULT_URLS, "_link_EvolinkVideoLink", *task_link]
    )


def test_links_are_recorded_on_the_operator():
    operator = type("Op", (), {})()
    context = {"ti": RecordingTI(), "task": operator}
    result_from_event(
        context, {"status": "success", "evolink_task_id": TASK_ID, "result_urls": [URL]}, StubHook()
    )
    links = operator._evolink_link_urls
    assert (
        links == {"Evolink Task": TASK_PAGE, "Evolink Video": VIDEO_PAGE}
        if GALLERY_AVAILABLE
        else {"Evolink Video": VIDEO_PAGE}
    )


@pytest.mark.parametrize("retryable", [False, None])
def test_failed_event_not_retryable(context, retryable):
    event = {
        "status": "failed",
        "evolink_task_id": TASK_ID,
        "code": "content_policy_violation",
        "message": "blocked by the safety filter",
        "retryable": retryable,
    }
    with pytest.raises(AirflowFailException, match="blocked by the safety filter"):
        result_from_event(context, event, StubHook())
    assert_link(context["ti"], EvolinkTaskLink, TASK_PAGE)


def test_failed_event_retryable(context):
    event = {
        "status": "failed",
        "evolink_task_id": TASK_ID,
        "code": "service_error",
        "message": "internal",
        "retryable": True,
    }
    with pytest.raises(AirflowException, match="internal") as raised:
        result_from_event(context, event, StubHook())
    assert_retryable(raised)


def test_error_event_retryable_and_not(context):
    with pytest.raises(AirflowException) as raised:
        result_from_event(context, {"status": "error", "message": "HTTP 503", "retryable": True}, StubHook())
    assert_retryable(raised)
    with pytest.raises(AirflowFailException, match="HTTP 404"):
        result_from_event(context, {"status": "error", "message": "HTTP 404", "retryable": False}, StubHook())


def test_timeout_event_fails_for_good(context):
    event = {
        "status": "timeout",
        "evolink_task_id": TASK_ID,
        "message": "did not finish within 3600 s",
        "task": {"id": TASK_ID, "status": "processing"},
    }
    with pytest.raises(AirflowFailException, match="3600 s"):
        result_from_event(context, event, StubHook())
    assert context["ti"].value(xcom_keys.EVOLINK_TASK)["status"] == "processing"


@pytest.mark.parametrize(
    "event",
    [None, {}, {"status": "done"}, {"status": None}, {"status": "SUCCESS"}, ["success"], "success"],
)
def test_unexpected_events_fail_clearly(context, event):
    with pytest.raises(AirflowException, match="Unexpected event") as raised:
        result_from_event(context, event, StubHook())
    assert repr(event) in str(raised.value)
    assert context["ti"].pushed == []


def test_event_without_task_id_pushes_no_task_link(context):
    assert result_from_event(context, {"status": "success", "result_urls": []}, StubHook()) == []
    assert EvolinkTaskLink().xcom_key not in [key for key, _ in context["ti"].pushed]


@pytest.mark.skipif(not GALLERY_AVAILABLE, reason="the gallery plugin needs Airflow 3.1+")
def test_links_lead_to_the_gallery_with_every_id_quoted():
    # A run id carries ":" and "+"; each part is one path segment, and nothing opens the raw API.
    assert TASK_PAGE == (
        "/evolink/dags/videos/runs/manual__2026-12-01T12%3A00%3A00%2B00%3A00/tasks/submit?map_index=3"
    )
    assert VIDEO_PAGE == TASK_PAGE.replace("/tasks/submit?", "/tasks/submit/video?")


@pytest.mark.skipif(GALLERY_AVAILABLE, reason="Airflow 3.0 has no plugin pages")
def test_links_on_airflow_3_0_are_the_live_video_and_no_task_page():
    assert TASK_PAGE == "" and VIDEO_PAGE == URL

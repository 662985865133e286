"""Parsing task bodies and error responses, plus the small protocol helpers (base URL, task id, calls)."""

from __future__ import annotations

import email.utils
import json
import time

import pytest

from airflow_evolink.core.account import parse_credits
from airflow_evolink.core.errors import (
    TASK_ERROR_RETRYABLE,
    EvolinkAPIError,
    EvolinkAuthError,
    EvolinkBadRequestError,
    EvolinkIdempotencyConflictError,
    EvolinkInsufficientCreditsError,
    EvolinkNotFoundError,
    EvolinkRateLimitError,
    EvolinkResponseError,
    EvolinkServerError,
    EvolinkTaskFailedError,
    EvolinkValidationError,
    task_error_is_retryable,
)
from airflow_evolink.core.models import build_video_request
from airflow_evolink.core.protocol import (
    DEFAULT_BASE_URL,
    MAX_RESPONSE_BYTES,
    ApiCall,
    check_task_id,
    credits_call,
    decode_json,
    error_from_response,
    get_task_call,
    interpret_response,
    normalize_base_url,
    parse_retry_after,
    submit_call,
)
from airflow_evolink.core.status import TERMINAL_STATUSES, TaskStatus
from airflow_evolink.core.task import UnlistedStatusWarning, parse_state, parse_task

TASK_ID = "task-unified-1757169743-7cvnl5zw"

# The create response documented on the kling-v3 page.
CREATE_BODY = {
    "created": 1757169743,
    "id": TASK_ID,
    "model": "kling-v3-image-to-video",
    "object": "video.generation.task",
    "progress": 0,
    "status": "pending",
    "task_info": {"can_cancel": True, "estimated_time": 300, "video_duration": 5},
    "type": "video",
    "usage": {"billing_rule": "per_second", "credits_reserved": 270000, "user_group": "default"},
}
RESULT = "https://files.evolink.ai/results/abc.mp4"


def body(**changes: object) -> dict[str, object]:
    data = json.loads(json.dumps(CREATE_BODY))
    data.update(changes)
    return data


# ---- parse_task on documented bodies -----------------------------------------------------------------


def test_parse_create_response():
    task = parse_task(CREATE_BODY)
    assert task.id == TASK_ID
    assert task.status is TaskStatus.PENDING
    assert task.raw_status == "pending"
    assert task.progress == 0
    assert task.model == "kling-v3-image-to-video"
    assert task.created == 1757169743
    assert task.type == "video"
    assert task.estimated_time == 300.0
    assert task.video_duration == 5.0
    assert task.can_cancel is True
    assert task.credits_reserved == 270000.0
    assert task.billing_rule == "per_second"
    assert task.results == []
    assert task.error is None
    assert not task.is_terminal
    assert not task.is_success


def test_parse_processing():
    task = parse_task(body(status="processing", progress=42))
    assert task.status is TaskStatus.PROCESSING
    assert task.progress == 42
    assert not task.is_terminal


def test_parse_completed_with_results():
    task = parse_task(
        body(status="completed", progress=100, results=[RESULT], task_info={"can_cancel": False})
    )
    assert task.is_terminal and task.is_success
    assert task.results == [RESULT]
    assert task.can_cancel is False
    assert task.estimated_time is None


def test_parse_failed_with_business_error():
    task = parse_task(
        body(
            status="failed", error={"code": "content_policy_violation", "message": "Blocked by safety filter"}
        )
    )
    assert task.is_terminal and not task.is_success
    failure = task.failure()
    assert isinstance(failure, EvolinkTaskFailedError)
    assert failure.code == "content_policy_violation"
    assert failure.task_message == "Blocked by safety filter"
    assert failure.task_id == TASK_ID
    assert failure.retryable is False
    text = str(failure)
    assert "content_policy_violation" in text
    assert "Blocked by safety filter" in text
    assert TASK_ID in text
    assert "will not help" in text


def test_failed_service_error_is_retryable():
    failure = parse_task(
        body(status="failed", error={"code": "service_error", "message": "internal"})
    ).failure()
    assert failure.retryable is True
    assert "[service_error]" in str(failure)
    assert "internal" in str(failure)
    assert "retrying may help" in str(failure)


def test_failed_without_error_object_still_explains():
    failure = parse_task(body(status="failed")).failure()
    assert failure.code is None
    assert "no message" in str(failure)
    # Evolink counts a failure without a code as unknown_error: "do not generate again automatically".
    assert failure.retryable is False


def test_completed_without_results_is_a_failure():
    task = parse_task(body(status="completed", progress=100, results=[]))
    assert task.is_terminal and task.is_success and task.results == []
    failure = task.failure()
    assert failure.code == "no_results"
    assert "no result URLs" in str(failure)


@pytest.mark.parametrize("status", ["cancelled", "Cancelled", " CANCELLED "])
def test_cancelled_is_terminal_and_not_retryable(status):
    task = parse_task(body(status=status))
    assert task.status is TaskStatus.CANCELLED
    assert task.is_terminal and not task.is_success
    failure = task.failure()
    assert failure.code == "request_cancelled"
    assert "cancelled" in str(failure)
    assert failure.retryable is False


@pytest.mark.parametrize(
    "status", ["weird", "expired", "", None, 7, "PENDING_REVIEW", "queued", "running", "succeeded", "error"]
)
def test_unlisted_status_means_still_running_and_never_crashes(status):
    # Evolink's own client ends a wait only on completed, failed and cancelled (tools/task-format.js).
    task = parse_task(body(status=status))
    assert task.status is TaskStatus.UNKNOWN
    assert not task.is_terminal
    assert not task.is_success
    assert not task.status.is_listed
    assert parse_state(body(status=status)).status is TaskStatus.UNKNOWN
    json.dumps(task.to_xcom())


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        ("PENDING", TaskStatus.PENDING),
        (" Processing ", TaskStatus.PROCESSING),
        ("Completed", TaskStatus.COMPLETED),
        ("FAILED", TaskStatus.FAILED),
        ("cancelled", TaskStatus.CANCELLED),
    ],
)
def test_listed_statuses_in_any_case(raw, status):
    assert parse_task(body(status=raw)).status is status


def test_terminal_set():
    assert {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED} == TERMINAL_STATUSES
    assert not TaskStatus.PENDING.is_terminal and not TaskStatus.PROCESSING.is_terminal
    assert not TaskStatus.UNKNOWN.is_terminal
    assert {status for status in TaskStatus if status.is_terminal} == TERMINAL_STATUSES


def test_unlisted_status_warning_is_logged_once_per_status():
    class Log:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def warning(self, message: str, *args: object) -> None:
            self.lines.append(message % args)

    log = Log()
    warning = UnlistedStatusWarning(log)
    for raw in ["pending", "in_queue", "in_queue", "processing", "in_queue", "rendering", "completed"]:
        warning.check(parse_task(body(status=raw)))
    assert len(log.lines) == 2
    assert "'in_queue'" in log.lines[0] and "'rendering'" in log.lines[1]
    assert "still running" in log.lines[0]


@pytest.mark.parametrize("raw", ["FAILED", "failed", "Failed"])
def test_retryability_does_not_depend_on_status_spelling(raw):
    task = parse_task(body(status=raw, error={"code": "service_error", "message": "internal"}))
    assert task.status is TaskStatus.FAILED
    assert task.failure().retryable is True


# ---- odd and missing fields --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("progress", "expected"),
    [
        ("50", 50),
        ("12.9", 12),
        (33.7, 33),
        (None, 0),
        (150, 100),
        (100.0, 100),
        (-3, 0),
        (True, 0),
        ("abc", 0),
        ([1], 0),
        ({"pct": 5}, 0),
    ],
)
def test_progress_is_tolerant(progress, expected):
    assert parse_task(body(status="processing", progress=progress)).progress == expected


def test_missing_progress_is_zero():
    data = body(status="processing")
    del data["progress"]
    assert parse_task(data).progress == 0


@pytest.mark.parametrize(
    "raw",
    ['"progress": NaN', '"progress": Infinity', '"progress": 1e999', '"progress": "nan"', '"created": "inf"'],
)
def test_non_finite_numbers_do_not_crash(raw):
    data = json.loads(f'{{"id": "{TASK_ID}", "status": "processing", {raw}}}')
    task = parse_task(data)
    assert 0 <= task.progress <= 100


def test_results_accept_strings_and_dicts():
    results = [
        RESULT,
        {"url": "https://x.example/2.mp4"},
        {"video_url": "https://x.example/3.mp4"},
        {"other": 1},
        "",
        None,
        7,
    ]
    task = parse_task(body(status="completed", results=results))
    assert task.results == [RESULT, "https://x.example/2.mp4", "https://x.example/3.mp4"]


def test_result_data_video_url_is_used_and_deduplicated():
    task = parse_task(
        body(
            status="completed",
            results=[RESULT],
            result_data=[{"video_url": RESULT}, {"video_url": "https://x.example/extra.mp4"}, "junk"],
        )
    )
    assert task.results == [RESULT, "https://x.example/extra.mp4"]


def test_result_data_alone():
    task = parse_task(body(status="completed", result_data=[{"video_url": RESULT, "cover_url": "c"}]))
    assert task.results == [RESULT]
    assert task.is_success


@pytest.mark.parametrize("results", [None, "https://x.example/1.mp4", {"url": RESULT}, 5])
def test_results_of_wrong_type_are_ignored(results):
    assert parse_task(body(status="completed", results=results)).results == []


def test_error_as_string_and_numeric_code():
    task = parse_task(body(status="failed", error="upstream exploded"))
    assert task.error is not None and task.error.message == "upstream exploded" and task.error.code is None
    task = parse_task(body(status="failed", error={"code": 500, "message": None}))
    assert task.error is not None and task.error.code == "500"
    assert "[500]" in str(task.failure())


@pytest.mark.parametrize("error", [["a"], 5, {}, ""])
def test_odd_error_values_do_not_crash(error):
    task = parse_task(body(status="failed", error=error))
    assert isinstance(task.failure(), EvolinkTaskFailedError)


def test_odd_task_info_and_usage():
    task = parse_task(body(task_info="soon", usage=["x"], created="1757169743", model=12))
    assert task.estimated_time is None and task.can_cancel is None
    assert task.credits_reserved is None
    assert task.created == 1757169743
    assert task.model == "12"


def test_credits_used_and_cost():
    assert parse_task(body(usage={"credits_used": "12.5"})).credits_used == 12.5
    assert parse_task(body(usage={"cost": {"credits": 27, "usd": 0.4}})).credits_used == 27.0
    # A bare number has no documented unit: kept as reported, never read as credits charged.
    bare = parse_task(body(usage={"cost": 3}))
    assert (bare.credits_used, bare.charged_credits, bare.cost_reported) == (None, None, 3.0)


def test_envelope_with_data_is_unwrapped():
    task = parse_task({"success": True, "data": CREATE_BODY})
    assert task.id == TASK_ID


def test_task_id_key_is_accepted():
    data = body()
    data["task_id"] = data.pop("id")
    assert parse_task(data).id == TASK_ID


@pytest.mark.parametrize("task_id", [None, "", 12345, ["x"]])
def test_no_usable_id_is_a_response_error(task_id):
    data = body(id=task_id)
    with pytest.raises(EvolinkResponseError, match="no task id"):
        parse_task(data)


def test_missing_id_is_a_response_error():
    data = body()
    del data["id"]
    with pytest.raises(EvolinkResponseError, match="no task id") as info:
        parse_task(data)
    assert info.value.retryable is True


@pytest.mark.parametrize("data", [None, [], "task", 3, [CREATE_BODY]])
def test_non_object_body_is_a_response_error(data):
    with pytest.raises(EvolinkResponseError, match="JSON object"):
        parse_task(data)


def test_to_xcom_is_json_and_keeps_the_raw_status():
    task = parse_task(body(status="Processing", progress=5))
    data = task.to_xcom()
    assert json.loads(json.dumps(data)) == data
    assert data["status"] == "Processing"
    assert "raw_status" not in data
    assert data["id"] == TASK_ID


# ---- business error codes ----------------------------------------------------------------------------


DOCUMENTED = {
    "content_policy_violation": False,
    "invalid_parameters": False,
    "image_processing_error": False,
    "image_dimension_mismatch": False,
    "request_cancelled": False,
    "resource_not_found": False,
    "model_unavailable": True,
    "generation_failed_no_content": False,
    "service_error": True,
    "generation_timeout": True,
    "resource_exhausted": True,
    "quota_exceeded": True,
    "service_unavailable": True,
    "upstream_error": True,
    "unknown_error": False,
}


@pytest.mark.parametrize(("code", "retryable"), sorted(DOCUMENTED.items()))
def test_task_error_codes_follow_the_docs(code, retryable):
    assert task_error_is_retryable(code) is retryable
    assert TASK_ERROR_RETRYABLE[code] is retryable


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (None, False),
        ("", False),
        ("image_too_small", False),
        ("InvalidParameter.TaskTypeConstraint", False),
        ("ContentFilter.Blocked", False),
        ("SERVICE_ERROR", True),
        ("Service-Error", True),
        ("invalid_seed", False),
        ("content_flagged", False),
        ("brand_new_transient", True),
    ],
)
def test_unlisted_task_error_codes(code, retryable):
    assert task_error_is_retryable(code) is retryable


# ---- error_from_response -----------------------------------------------------------------------------


def evolink_error(status: int, error_type: str, message: str = "went wrong", **extra: object) -> bytes:
    return json.dumps({"error": {"code": status, "message": message, "type": error_type, **extra}}).encode()


STATUS_TABLE = [
    (400, EvolinkBadRequestError, "invalid_request_error", False),
    (401, EvolinkAuthError, "authentication_error", False),
    (402, EvolinkInsufficientCreditsError, "insufficient_quota_error", False),
    (403, EvolinkAuthError, "permission_error", False),
    (404, EvolinkNotFoundError, "not_found_error", False),
    (409, EvolinkBadRequestError, "conflict_error", False),
    (413, EvolinkBadRequestError, "request_too_large_error", False),
    (429, EvolinkRateLimitError, "rate_limit_error", True),
    (500, EvolinkServerError, "internal_server_error", True),
    (502, EvolinkServerError, "upstream_error", True),
    (503, EvolinkServerError, "service_unavailable_error", True),
    (504, EvolinkServerError, "gateway_timeout", True),
]


@pytest.mark.parametrize(("status", "cls", "error_type", "retryable"), STATUS_TABLE)
def test_error_from_json_body(status, cls, error_type, retryable):
    error = error_from_response(
        status, {}, evolink_error(status, error_type, "Invalid prompt", param="prompt")
    )
    assert type(error) is cls
    assert error.http_status == status
    assert error.error_type == error_type
    assert error.code == status
    assert error.param == "prompt"
    assert error.api_message == "Invalid prompt"
    assert error.retryable is retryable
    text = str(error)
    assert (
        f"HTTP {status}" in text
        and error_type in text
        and "Invalid prompt" in text
        and "[param: prompt]" in text
    )


HTML = b"<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>"


@pytest.mark.parametrize(("status", "cls", "error_type", "retryable"), STATUS_TABLE)
def test_error_from_html_body(status, cls, error_type, retryable):
    error = error_from_response(status, {"Content-Type": "text/html"}, HTML)
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.error_type is None
    assert "no Evolink error body" in str(error)
    assert "502 Bad Gateway" in str(error)


@pytest.mark.parametrize(("status", "cls", "error_type", "retryable"), STATUS_TABLE)
def test_error_from_truncated_body(status, cls, error_type, retryable):
    full = evolink_error(status, error_type)
    error = error_from_response(status, {}, full[: len(full) // 2])
    assert type(error) is cls
    assert error.retryable is retryable
    assert "no Evolink error body" in str(error)
    assert '{"error"' in str(error)


@pytest.mark.parametrize(("status", "cls", "error_type", "retryable"), STATUS_TABLE)
def test_error_from_empty_body(status, cls, error_type, retryable):
    error = error_from_response(status, {}, b"")
    assert type(error) is cls
    assert error.retryable is retryable
    assert "empty response body" in str(error)


def test_long_html_body_is_shortened():
    error = error_from_response(502, {}, b"<html>" + b"x" * 10_000 + b"</html>")
    assert len(str(error)) < 400
    assert "..." in str(error)


def test_fallback_suggestion_is_in_the_message():
    raw = evolink_error(
        429, "rate_limit_error", "Too many requests", fallback_suggestion="retry after 60 seconds"
    )
    error = error_from_response(429, {}, raw)
    assert "Too many requests" in str(error)
    assert "Suggestion: retry after 60 seconds" in str(error)
    assert error.suggestion == "retry after 60 seconds"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"message": "flat message"}',
        b'{"error": "flat message"}',
        b'{"error": {"message": null}, "message": "flat message"}',
    ],
)
def test_other_error_body_shapes(raw):
    assert error_from_response(400, {}, raw).api_message == "flat message"


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b'{"error": null}', b'{"error": 5}', b"\xff\xfe"])
def test_unusable_error_bodies(raw):
    error = error_from_response(500, {}, raw)
    assert isinstance(error, EvolinkServerError)
    assert "no Evolink error body" in str(error)


def test_unexpected_status_gives_the_base_class():
    error = error_from_response(302, {}, b"")
    assert type(error) is EvolinkAPIError
    assert error.retryable is False


def test_retry_after_seconds():
    error = error_from_response(429, {"Retry-After": "30"}, evolink_error(429, "rate_limit_error"))
    assert error.retry_after == 30.0


def test_retry_after_http_date():
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    error = error_from_response(503, {"retry-after": when}, b"")
    assert error.retry_after is not None
    assert 85 <= error.retry_after <= 91


def test_retry_after_absent_or_garbage():
    assert error_from_response(429, {}, b"").retry_after is None
    assert error_from_response(429, {"Retry-After": "soon"}, b"").retry_after is None


@pytest.mark.parametrize(
    "header", ["x-request-id", "X-Request-ID", "x-oneapi-request-id", "X-Oneapi-Request-Id"]
)
def test_request_id_header(header):
    error = error_from_response(500, {header: "req-123"}, evolink_error(500, "internal_server_error"))
    assert error.request_id == "req-123"
    assert "[request id: req-123]" in str(error)


def test_x_request_id_wins_over_oneapi():
    error = error_from_response(500, {"x-oneapi-request-id": "b", "x-request-id": "a"}, b"")
    assert error.request_id == "a"


def test_interpret_response_success_and_error():
    assert interpret_response(200, {}, json.dumps(CREATE_BODY).encode()) == CREATE_BODY
    with pytest.raises(EvolinkNotFoundError):
        interpret_response(404, {}, evolink_error(404, "not_found_error"))


# ---- parse_retry_after -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("2.5", 2.5),
        ("-5", 0.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("Someday, 99 Foo 2020", None),
    ],
)
def test_parse_retry_after_values(value, expected):
    assert parse_retry_after(value, now=1_700_000_000.0) == expected


def test_parse_retry_after_http_date_with_fixed_now():
    now = 1_700_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 60, usegmt=True), now=now) == pytest.approx(60.0)
    assert parse_retry_after(email.utils.formatdate(now - 60, usegmt=True), now=now) == 0.0


# ---- decode_json -------------------------------------------------------------------------------------


def test_decode_json_ok():
    assert decode_json(b'{"a": [1, 2]}', 200) == {"a": [1, 2]}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"id": "task-unified-17571',
        HTML,
        b"",
        b"   ",
        b"OK",
        b"\xff\xfe\x00garbage",
        b"{'single': 'quotes'}",
    ],
)
def test_decode_json_rejects_bad_bodies(raw):
    with pytest.raises(EvolinkResponseError) as info:
        decode_json(raw, 200)
    assert info.value.http_status == 200
    assert info.value.retryable is True
    assert "not valid JSON" in str(info.value)


def test_decode_json_rejects_oversized_bodies():
    raw = b'{"pad": "' + b"x" * MAX_RESPONSE_BYTES + b'"}'
    with pytest.raises(EvolinkResponseError, match="too large") as info:
        decode_json(raw, 200)
    assert str(len(raw)) in str(info.value)


def test_decode_json_at_the_size_limit():
    padding = MAX_RESPONSE_BYTES - len(b'{"pad": ""}')
    raw = b'{"pad": "' + b"x" * padding + b'"}'
    assert len(raw) == MAX_RESPONSE_BYTES
    assert decode_json(raw)["pad"] == "x" * padding


# ---- normalize_base_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "kwargs", "expected"),
    [
        (None, {}, DEFAULT_BASE_URL),
        ("", {}, DEFAULT_BASE_URL),
        ("   ", {}, DEFAULT_BASE_URL),
        ("api.evolink.ai", {}, "https://api.evolink.ai"),
        ("beta-api.evolink.ai", {"scheme": "http"}, "http://beta-api.evolink.ai"),
        ("https://api.evolink.ai/", {}, "https://api.evolink.ai"),
        ("http://127.0.0.1:8099", {}, "http://127.0.0.1:8099"),
        ("http://127.0.0.1:8099/", {"port": 9000}, "http://127.0.0.1:8099"),
        ("127.0.0.1", {"port": 8099, "scheme": "http"}, "http://127.0.0.1:8099"),
        ("https://proxy.example.com/evolink/", {}, "https://proxy.example.com/evolink"),
        ("https://proxy.example.com/evolink/", {"port": 8443}, "https://proxy.example.com:8443/evolink"),
        (" https://api.evolink.ai ", {}, "https://api.evolink.ai"),
        ("[::1]:8099", {"scheme": "http"}, "http://[::1]:8099"),
    ],
)
def test_normalize_base_url(host, kwargs, expected):
    assert normalize_base_url(host, **kwargs) == expected


@pytest.mark.parametrize("host", ["ftp://api.evolink.ai", "http://", "https:///path", "file:///etc"])
def test_normalize_base_url_rejects(host):
    with pytest.raises(EvolinkValidationError) as info:
        normalize_base_url(host)
    assert info.value.field == "host"


# ---- task ids and calls ------------------------------------------------------------------------------


@pytest.mark.parametrize("task_id", [TASK_ID, "abcd", "a" * 128, "task.v2:9_x-Y"])
def test_check_task_id_accepts(task_id):
    assert check_task_id(task_id) == task_id


@pytest.mark.parametrize(
    "task_id",
    [None, 12345, "", "abc", "a" * 129, "task unified", "../../v1/credits", "task/1", "task?x=1", "tâsk-1"],
)
def test_check_task_id_rejects(task_id):
    with pytest.raises(EvolinkValidationError) as info:
        check_task_id(task_id)
    assert info.value.field == "evolink_task_id"
    assert "task-unified-1757169743-7cvnl5zw" in str(info.value)


def test_check_task_id_rejects_trailing_newline():
    with pytest.raises(EvolinkValidationError):
        check_task_id(TASK_ID + "\n")


def test_get_task_call():
    call = get_task_call(TASK_ID)
    assert call.method == "GET"
    assert call.path == f"/v1/tasks/{TASK_ID}"
    assert call.json_body is None and not call.paid
    assert call.body_bytes() is None
    assert call.describe() == f"GET /v1/tasks/{TASK_ID}"
    with pytest.raises(EvolinkValidationError):
        get_task_call("../credits")


def test_submit_call_is_paid_and_carries_the_payload():
    request = build_video_request({"model": "kling-v3-text-to-video", "prompt": "hi", "duration": None})
    call = submit_call(request, "key-1-0000000000000")
    assert call.method == "POST" and call.path == "/v1/videos/generations"
    assert call.paid is True
    assert call.json_body == {"model": "kling-v3-text-to-video", "prompt": "hi"}
    assert json.loads(call.body_bytes() or b"") == call.json_body
    headers = call.headers("sk-secret")
    assert headers["Authorization"] == "Bearer sk-secret"
    assert headers["Idempotency-Key"] == "key-1-0000000000000" == headers["X-Evo-Run-Id"]
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"


def test_get_headers_have_no_body_headers():
    headers = credits_call().headers("sk-x")
    assert "Content-Type" not in headers and "Idempotency-Key" not in headers
    assert headers["Authorization"] == "Bearer sk-x"


def test_extra_headers_are_added():
    call = ApiCall("GET", "/v1/credits", extra_headers=(("X-Trace", "t1"),))
    assert call.headers("k")["X-Trace"] == "t1"


def test_api_call_repr_holds_no_key():
    call = submit_call(build_video_request({"model": "kling-v3-text-to-video"}), "idem-000000000000")
    call.headers("sk-very-secret")
    assert "sk-very-secret" not in repr(call)


# ---- credits -----------------------------------------------------------------------------------------


def test_spendable_credits_are_the_account_balance_capped_by_a_limited_key():
    credits = parse_credits(
        {
            "success": True,
            "data": {
                "token": {"remaining_credits": 500, "used_credits": "20", "unlimited_credits": False},
                "user": {"remaining_credits": 9000, "used_credits": 1},
            },
        }
    )
    assert credits.spendable_credits == 500.0 == credits.remaining_credits
    assert credits.user_remaining_credits == 9000.0 and credits.token_used_credits == 20.0
    assert credits.unlimited is False


def test_an_unlimited_key_spends_the_account_balance():
    # The get-credits page's example: an unlimited key's own figure is no limit.
    credits = parse_credits(
        {
            "success": True,
            "data": {
                "token": {"remaining_credits": 99416.4429, "used_credits": 3.2, "unlimited_credits": True},
                "user": {"remaining_credits": 1095.3996, "used_credits": 904.6},
            },
        }
    )
    assert credits.spendable_credits == 1095.3996
    assert credits.unlimited is True
    assert "1,095.4 credits" in credits.describe() and "key limit: none" in credits.describe()


def test_a_limited_key_below_the_account_balance_decides():
    credits = parse_credits(
        {
            "data": {
                "token": {"remaining_credits": 12, "unlimited_credits": False},
                "user": {"remaining_credits": 7000},
            }
        }
    )
    assert credits.spendable_credits == 12.0
    assert "12 credits" in credits.describe()


def test_parse_credits_without_a_token_object():
    credits = parse_credits({"data": {"user": {"remaining_credits": 7}}})
    assert credits.spendable_credits == 7.0 and credits.used_credits is None


@pytest.mark.parametrize("data", [None, {}, {"data": None}, {"data": []}, [1]])
def test_parse_credits_rejects_bodies_without_data(data):
    with pytest.raises(EvolinkResponseError, match="data"):
        parse_credits(data)


def coded_error(status: int, code: str) -> Exception:
    return error_from_response(status, {}, json.dumps({"error": {"code": code, "message": "m"}}).encode())


def test_a_code_naming_the_input_does_not_override_auth_or_server_statuses():
    assert isinstance(coded_error(401, "invalid_api_key"), EvolinkAuthError)
    assert isinstance(coded_error(502, "image_download_failed"), EvolinkServerError)
    assert isinstance(coded_error(400, "InvalidParameter.TaskTypeConstraint"), EvolinkBadRequestError)
    assert isinstance(coded_error(500, "invalid_parameter"), EvolinkServerError)


@pytest.mark.parametrize(
    ("status", "code", "kind", "retryable"),
    [
        (402, "insufficient_quota", EvolinkInsufficientCreditsError, False),
        (402, "key_quota_exhausted", EvolinkInsufficientCreditsError, False),
        (402, "KEY_DAILY_QUOTA_EXHAUSTED", EvolinkInsufficientCreditsError, True),
        (403, "key_model_not_allowed", EvolinkAuthError, False),
        (409, "idempotency_conflict", EvolinkIdempotencyConflictError, False),
        (503, "no_available_channel", EvolinkServerError, True),
        (400, "model_unavailable", EvolinkServerError, True),
        (400, "content_filter", EvolinkBadRequestError, False),
    ],
)
def test_string_codes_decide_before_the_status(status, code, kind, retryable):
    error = coded_error(status, code)
    assert type(error) is kind and error.retryable is retryable


def test_oauth_style_error_string_is_read_as_the_code():
    raw = json.dumps({"error": "key_disabled", "error_description": "This key is disabled"}).encode()
    error = error_from_response(401, {}, raw)
    assert error.code == "key_disabled" and "This key is disabled" in str(error)


def test_event_form_of_a_task_keeps_facts_and_drops_gaps():
    task = parse_task(
        {"id": "task-1", "status": "failed", "progress": 0, "usage": {"credits_used": 0}, "results": []}
    )
    event = task.to_event()
    assert event["credits_used"] == 0 and event["progress"] == 0  # a refund and 0 % are facts
    assert "results" not in event and "model" not in event and "idempotency_replayed" not in event
    assert set(event) < set(task.to_xcom())

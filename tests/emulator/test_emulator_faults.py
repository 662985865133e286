"""Each injected fault looks on the wire the way the real failure would."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from airflow_evolink.emulator import FaultRule

POST = "/v1/videos/generations"


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (429, "rate_limit_error"),
        (500, "internal_server_error"),
        (502, "upstream_error"),
        (503, "service_unavailable_error"),
        (504, "gateway_timeout_error"),
    ],
)
def test_status_fault_sends_evolink_error_json(api: Any, emulator: Any, status: int, error_type: str) -> None:
    emulator.faults.http_status(status, retry_after=7)
    response = api.credits()
    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type
    assert response.json()["error"]["code"] == status
    assert response.headers["Retry-After"] == "7"
    suggestion = response.json()["error"].get("fallback_suggestion")
    assert (suggestion is not None) == (status in (429, 502, 503))
    if status in (429, 503):
        assert suggestion == "retry after 7 seconds"
    assert api.credits().status_code == 200  # count=1: used up


def test_html_fault_sends_an_nginx_page(api: Any, emulator: Any) -> None:
    emulator.faults.http_status(502, body="html", method="GET")
    response = api.credits()
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text and "nginx" in response.text
    with pytest.raises(ValueError):
        response.json()


def test_fault_without_processing_creates_no_task(api: Any, emulator: Any) -> None:
    emulator.faults.http_status(503, method="POST", path=POST)
    assert api.create().status_code == 503
    assert emulator.state.tasks() == []
    assert api.credits().json()["data"]["token"]["used_credits"] == 0


def test_after_processing_fault_creates_a_paid_task_but_answers_500(api: Any, emulator: Any) -> None:
    emulator.faults.http_status(500, method="POST", path=POST, after_processing=True)
    response = api.create(headers={"Idempotency-Key": "retry-me-0123456789"})

    assert response.status_code == 500
    tasks = emulator.state.tasks()
    assert len(tasks) == 1
    assert api.credits().json()["data"]["token"]["used_credits"] == 27
    record = emulator.state.requests()[0]
    assert (record["status"], record["task_created"], record["fault"]) == (500, True, "status")
    assert record["task_id"] == tasks[0]["id"]
    # A retry with the same Idempotency-Key finds the task the failed call created.
    retry = api.create(headers={"Idempotency-Key": "retry-me-0123456789"})
    assert retry.json()["id"] == tasks[0]["id"]
    assert emulator.state.stats()["paid_posts"] == 1


def test_truncated_fault_cuts_the_json_in_half(api: Any, emulator: Any) -> None:
    emulator.faults.truncated(method="POST")
    response = api.create()

    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(response.content)
    with pytest.raises(ValueError):
        json.loads(response.content)
    assert response.text.startswith('{"created": ')
    assert len(emulator.state.tasks()) == 1  # the server did process it


def test_truncated_download_drops_the_connection_halfway(api: Any, emulator: Any) -> None:
    task_id = api.create().json()["id"]
    emulator.clock.advance(10)
    url = api.task(task_id).json()["results"][0]
    emulator.faults.truncated(path="/files/")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url, timeout=5)
    assert len(requests.get(url, timeout=5).content) == 64 * 1024


def test_non_json_fault_sends_plain_text(api: Any, emulator: Any) -> None:
    emulator.faults.non_json(method="GET", path="/v1/tasks/")
    response = api.task("task-unified-1-abcdefgh")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    with pytest.raises(ValueError):
        response.json()


def test_delay_fault_holds_the_answer(api: Any, emulator: Any) -> None:
    emulator.faults.delay(0.6, method="GET", path="/v1/credits")
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.session.get(f"{api.base_url}/v1/credits", timeout=0.2)
    assert time.monotonic() - started < 0.5
    started = time.monotonic()
    assert api.credits().status_code == 200  # the rule was used up by the first call
    assert time.monotonic() - started < 0.5


def test_delay_after_processing_creates_the_task_before_the_client_gives_up(api: Any, emulator: Any) -> None:
    emulator.faults.delay(0.8, method="POST", after_processing=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.session.post(f"{api.base_url}{POST}", json={"model": "sora-2"}, timeout=0.3)
    assert len(emulator.state.tasks()) == 1


def test_reset_fault_closes_the_connection_without_a_response(api: Any, emulator: Any) -> None:
    emulator.faults.reset_connection(method="GET", path="/v1/credits")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.credits()
    assert api.credits().status_code == 200
    assert emulator.state.requests()[0]["status"] == 0
    assert emulator.state.requests()[0]["fault"] == "reset"


def test_reset_after_processing_leaves_a_paid_task(api: Any, emulator: Any) -> None:
    emulator.faults.reset_connection(method="POST", after_processing=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.create()
    assert len(emulator.state.tasks()) == 1
    assert api.credits().json()["data"]["token"]["used_credits"] == 27


def test_rules_match_method_and_path_apply_in_order_and_count(api: Any, emulator: Any) -> None:
    emulator.faults.http_status(503, method="POST", count=2)
    emulator.faults.add(FaultRule("status", method="GET", path="/v1/credits", status=500))
    assert api.credits().status_code == 500  # the POST rule does not match a GET
    assert [api.create().status_code for _ in range(3)] == [503, 503, 200]
    assert emulator.faults.pending() == []
    assert emulator.state.stats()["faults_applied"] == 3


def test_fail_next_jobs_end_failed_with_the_business_code(api: Any, emulator: Any) -> None:
    emulator.faults.fail_next_jobs("content_policy_violation", "blocked by the filter", count=2)
    ids = [api.create().json()["id"] for _ in range(3)]
    emulator.clock.advance(10)
    bodies = [api.task(task_id).json() for task_id in ids]

    for failed in bodies[:2]:
        assert failed["status"] == "failed"
        assert failed["error"] == {"code": "content_policy_violation", "message": "blocked by the filter"}
        assert "results" not in failed
    assert bodies[2]["status"] == "completed" and "error" not in bodies[2]


@pytest.mark.parametrize("code", ["service_error", "generation_timeout", "quota_exceeded", "unknown_error"])
def test_fail_next_jobs_default_messages(api: Any, emulator: Any, code: str) -> None:
    emulator.faults.fail_next_jobs(code)
    task_id = api.create().json()["id"]
    emulator.clock.advance(5)
    assert api.task(task_id).json()["status"] == "processing"  # fails only at the end
    emulator.clock.advance(5)
    error = api.task(task_id).json()["error"]
    assert error["code"] == code and error["message"]


def test_next_jobs_status_cancelled(api: Any, emulator: Any) -> None:
    emulator.faults.next_jobs_status("cancelled", error_code="request_cancelled")
    task_id = api.create().json()["id"]
    emulator.clock.advance(10)
    body = api.task(task_id).json()
    assert body["status"] == "cancelled"
    assert body["error"]["code"] == "request_cancelled"
    assert body["task_info"]["can_cancel"] is False


def test_complete_without_results_and_custom_job_seconds(api: Any, emulator: Any) -> None:
    emulator.faults.complete_without_results()
    emulator.faults.next_jobs_seconds(60)
    empty, slow = api.create().json()["id"], api.create().json()["id"]
    emulator.clock.advance(10)

    assert api.task(empty).json()["results"] == []
    assert api.task(slow).json()["status"] == "processing"
    assert api.task(slow).json()["task_info"]["estimated_time"] == 50
    emulator.clock.advance(50)
    assert api.task(slow).json()["status"] == "completed"


def test_fail_rate_fails_a_seeded_share_of_jobs(start_emulator: Any, api_for: Any) -> None:
    server = start_emulator(job_seconds=0, fail_rate=0.5, seed=7)
    api = api_for(server)
    statuses = [api.task(api.create().json()["id"]).json()["status"] for _ in range(40)]
    assert 8 <= statuses.count("failed") <= 32
    assert set(statuses) == {"completed", "failed"}


def test_bad_fault_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        FaultRule("explode")
    with pytest.raises(ValueError):
        FaultRule("status", body="xml")
    with pytest.raises(ValueError):
        FaultRule("status", count=0)

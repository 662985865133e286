"""Auth, credits, rate limit and task look-ups (idempotency: test_emulator_idempotency.py)."""

from __future__ import annotations

from typing import Any

import pytest
import requests


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic c2stdGVzdA==", "sk-test-key", "Bearer two words"]
)
def test_missing_or_malformed_authorization_is_401(emulator: Any, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for method, path in (("GET", "/v1/credits"), ("GET", "/v1/tasks/task-unified-1-abcdefgh")):
        response = requests.request(method, emulator.base_url + path, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
        assert response.json()["error"]["code"] == "invalid_token"


def test_configured_key_is_the_only_key_accepted(start_emulator: Any, api_for: Any) -> None:
    server = start_emulator(api_key="sk-right")
    assert api_for(server, "sk-right").credits().status_code == 200
    wrong = api_for(server, "sk-wrong").credits()
    assert wrong.status_code == 401 and wrong.json()["error"]["type"] == "authentication_error"


def test_any_key_accepted_by_default_and_create_needs_auth(emulator: Any, api_for: Any) -> None:
    assert api_for(emulator, "whatever").credits().status_code == 200
    anonymous = api_for(emulator, None).create()
    assert anonymous.status_code == 401
    assert emulator.state.tasks() == []


def test_credits_report_remaining_and_used(api: Any) -> None:
    api.create()
    data = api.credits().json()
    assert data["success"] is True and data["message"] == "ok"
    assert data["data"]["token"] == {
        "remaining_credits": 10**12 - 27,  # a 5 s 720p kling-v3 clip: 27 credits (pricing.py)
        "used_credits": 27,
        "unlimited_credits": True,  # by default the key has no limit of its own, as in the docs' example
    }
    assert data["data"]["user"] == {"remaining_credits": 10**12 - 27, "used_credits": 27}


def test_insufficient_credits_is_402_and_creates_no_task(
    start_emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    server = start_emulator(credits=30)
    api = api_for(server)
    assert api.create(kling).status_code == 200  # 27 credits reserved, 3 left

    refused = api.create(kling)

    assert refused.status_code == 402
    assert refused.json()["error"]["type"] == "insufficient_quota_error"
    assert refused.json()["error"]["code"] == "insufficient_quota"
    assert "needs 27 credits, the account has 3" in refused.json()["error"]["message"]
    assert len(server.state.tasks()) == 1
    assert api.credits().json()["data"]["token"]["remaining_credits"] == 3
    assert server.state.stats()["paid_posts"] == 1


def test_unknown_task_is_404_and_malformed_id_is_400(api: Any) -> None:
    unknown = api.task("task-unified-1757169743-zzzzzzzz")
    malformed = api.task("bad id!")
    too_short = api.task("abc")

    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"
    for response in (malformed, too_short):
        assert response.status_code == 400
        assert "Invalid task ID" in response.json()["error"]["message"]
        assert response.json()["error"]["param"] == "task_id"


def test_unknown_routes_get_json_404(api: Any) -> None:
    response = api.session.get(f"{api.base_url}/v1/videos/list", timeout=5)
    assert response.status_code == 404 and response.json()["error"]["type"] == "not_found_error"


def test_every_response_carries_a_unique_request_id(api: Any, emulator: Any) -> None:
    task_id = api.create().json()["id"]
    emulator.clock.advance(10)
    responses = [
        api.create(),
        api.task(task_id),
        api.task("nope-nope-nope"),
        api.credits(),
        requests.get(api.task(task_id).json()["results"][0], timeout=5),
        requests.get(f"{api.base_url}/v1/credits", timeout=5),  # 401
        requests.get(f"{api.base_url}/missing", timeout=5),
    ]
    ids = [response.headers.get("x-request-id") for response in responses]
    assert all(ids) and len(set(ids)) == len(ids)
    logged = {record["request_id"] for record in emulator.state.requests()}
    assert set(ids) <= logged


def test_rate_limit_answers_429_with_retry_after_and_skips_the_request(
    start_emulator: Any, api_for: Any
) -> None:
    server = start_emulator(rate_limit=2)
    api = api_for(server)
    statuses = [api.create().status_code for _ in range(3)]
    limited = api.credits()

    assert statuses == [200, 200, 429]
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert int(limited.headers["Retry-After"]) >= 1
    wait = limited.headers["Retry-After"]
    assert limited.json()["error"]["fallback_suggestion"] == f"retry after {wait} seconds"
    assert len(server.state.tasks()) == 2  # the refused POST did nothing
    assert server.state.stats()["rate_limited"] == 2

    server.clock.advance(1)
    assert api.credits().status_code == 200

"""Credits as the real account keeps them: account balance and key limit, refunds, charges on tasks."""

from __future__ import annotations

from typing import Any

import pytest

KLING_CREDITS = 270_000  # kling-v3, 5 s


def _credits(api: Any) -> dict[str, Any]:
    body = api.credits().json()
    assert body["success"] is True
    data: dict[str, Any] = body["data"]
    return data


def test_credits_body_has_token_and_user_figures_in_the_documented_shape(
    start_emulator: Any, api_for: Any
) -> None:
    server = start_emulator(credits=1095.3996, token_credits=99416.4429)  # the get-credits page's example
    assert api_for(server).credits().json() == {
        "success": True,
        "message": "ok",
        "data": {
            "token": {"remaining_credits": 99416.4429, "used_credits": 0, "unlimited_credits": True},
            "user": {"remaining_credits": 1095.3996, "used_credits": 0},
        },
    }


def test_an_unlimited_key_spends_the_account_balance_only(
    start_emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    server = start_emulator(credits=300_000, token_credits=10)  # the key's figure is not a limit
    api = api_for(server)
    assert api.create(kling).status_code == 200
    data = _credits(api)
    assert data["user"] == {"remaining_credits": 30_000, "used_credits": KLING_CREDITS}
    assert data["token"]["used_credits"] == KLING_CREDITS and data["token"]["unlimited_credits"] is True

    refused = api.create(kling)
    error = refused.json()["error"]
    assert refused.status_code == 402
    assert (error["code"], error["type"]) == ("insufficient_quota", "insufficient_quota_error")
    assert error["estimated_credits"] == KLING_CREDITS and error["account_balance_credits"] == 30_000
    assert len(server.state.tasks()) == 1


def test_a_limited_key_answers_key_quota_exhausted_with_its_figures(
    start_emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    server = start_emulator(credits=10**7, token_credits=300_000, token_unlimited=False)
    api = api_for(server)
    assert api.create(kling).status_code == 200

    refused = api.create(kling)

    assert refused.status_code == 402
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("key_quota_exhausted", "insufficient_quota_error")
    assert {key: error[key] for key in error if key.endswith("_credits")} == {
        "estimated_credits": KLING_CREDITS,
        "account_balance_credits": 10**7 - KLING_CREDITS,
        "total_limit_credits": 300_000,
        "used_credits": KLING_CREDITS,
        "remaining_credits": 30_000,
    }
    data = _credits(api)
    assert data["token"] == {
        "remaining_credits": 30_000,
        "used_credits": KLING_CREDITS,
        "unlimited_credits": False,
    }
    assert len(server.state.tasks()) == 1


def test_the_account_balance_is_checked_before_the_key_limit(
    start_emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    server = start_emulator(credits=100, token_credits=100, token_unlimited=False)
    assert api_for(server).create(kling).json()["error"]["code"] == "insufficient_quota"


def test_set_credits_switches_each_figure(emulator: Any, api: Any, kling: dict[str, Any]) -> None:
    emulator.state.set_credits(user=10**6, token=1000, unlimited=False)
    assert api.create(kling).json()["error"]["code"] == "key_quota_exhausted"
    emulator.state.set_credits(unlimited=True)
    assert api.create(kling).status_code == 200
    emulator.state.set_credits(500)  # both figures, the old single-balance switch
    data = _credits(api)
    assert data["user"]["remaining_credits"] == data["token"]["remaining_credits"] == 500
    assert api.create(kling).json()["error"]["code"] == "insufficient_quota"


@pytest.mark.parametrize(
    ("arrange", "status", "code"),
    [
        (lambda faults: faults.fail_next_jobs("service_error"), "failed", "service_error"),
        (lambda faults: faults.cancel_next_jobs(), "cancelled", "request_cancelled"),
    ],
)
def test_failed_and_cancelled_tasks_are_refunded_when_they_end(
    emulator: Any, api: Any, arrange: Any, status: str, code: str
) -> None:
    arrange(emulator.faults)
    task_id = api.create().json()["id"]
    assert _credits(api)["user"]["used_credits"] == KLING_CREDITS  # reserved while it runs
    emulator.clock.advance(10)

    body = api.task(task_id).json()
    data = _credits(api)

    assert (body["status"], body["error"]["code"]) == (status, code)
    assert body["error"]["message"]
    assert body["billing"] == {"charge_status": "refunded"}
    assert body["usage"]["credits_reserved"] == KLING_CREDITS and "credits_used" not in body["usage"]
    assert data["user"] == {"remaining_credits": 10**12, "used_credits": 0}
    assert data["token"]["used_credits"] == 0
    assert emulator.state.tasks()[0]["charge_status"] == "refunded"


def test_refunds_are_settled_when_credits_are_read_without_viewing_the_task(emulator: Any, api: Any) -> None:
    emulator.faults.fail_next_jobs("generation_timeout")
    api.create()
    api.create()
    emulator.clock.advance(10)
    assert _credits(api)["user"]["used_credits"] == KLING_CREDITS  # only the completed one
    assert emulator.state.credits()["data"]["user"]["used_credits"] == KLING_CREDITS


def test_a_refund_makes_room_for_the_next_task(
    start_emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    server = start_emulator(credits=KLING_CREDITS, job_seconds=10)
    api = api_for(server)
    server.faults.fail_next_jobs("resource_exhausted")
    api.create(kling)
    assert api.create(kling).json()["error"]["code"] == "insufficient_quota"  # still reserved
    server.clock.advance(10)
    assert api.create(kling).status_code == 200


def test_completed_task_reports_credits_used_and_charged(emulator: Any, api: Any) -> None:
    task_id = api.create().json()["id"]
    running = api.task(task_id).json()
    emulator.clock.advance(10)
    done = api.task(task_id).json()

    assert "billing" not in running and "credits_used" not in running["usage"]
    assert done["usage"]["credits_used"] == done["usage"]["credits_reserved"] == KLING_CREDITS
    assert done["billing"] == {"charge_status": "charged"}
    assert _credits(api)["user"]["used_credits"] == KLING_CREDITS


def test_cancelled_override_over_http_gets_request_cancelled(api: Any, emulator: Any) -> None:
    api.control("POST", "jobs", {"status": "cancelled"})
    task_id = api.create().json()["id"]
    emulator.clock.advance(10)
    body = api.task(task_id).json()
    assert body["status"] == "cancelled"
    assert body["error"]["code"] == "request_cancelled"
    assert "results" not in body and body["task_info"]["can_cancel"] is False


def test_credits_over_http(api: Any, kling: dict[str, Any]) -> None:
    shown = api.control("POST", "credits", {"user": 10**6, "token": 1000, "unlimited": False}).json()
    assert shown["data"]["token"] == {
        "remaining_credits": 1000,
        "used_credits": 0,
        "unlimited_credits": False,
    }
    assert shown["data"]["user"]["remaining_credits"] == 10**6
    assert api.create(kling).json()["error"]["code"] == "key_quota_exhausted"
    for bad in ({"unlimited": "yes"}, {"user": "lots"}, {"tokens": 1}, {}):
        assert api.control("POST", "credits", bad).status_code == 400, bad

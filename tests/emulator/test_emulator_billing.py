"""Credits as the real account keeps them, billed by the emulator's published rules.

Account balance and key limit, refunds, and the charge on each task: ``usage.credits_reserved`` as the
kling-v3 doc page shows it (UC), ``usage.credits_used`` / ``usage.cost`` and ``billing`` in credits.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

KLING_CREDITS = 27  # kling-v3, 5 s, 720p, no sound: 5.4 credits/s (evolink.ai model page)
KLING_UC = 270_000
REFUNDED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T[0-9:.]+Z$")  # the form Evolink's client accepts


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


@pytest.mark.parametrize(
    ("fields", "credits", "uc"),
    [
        ({}, 27, 270_000),
        ({"sound": "on"}, 40.5, 405_000),
        ({"quality": "1080p"}, 35.991, 359_910),
        ({"quality": "1080p", "sound": "on"}, 54, 540_000),
        ({"duration": 3}, 16.2, 162_000),
    ],
)
def test_kling_v3_is_billed_at_its_published_rates(
    emulator: Any, api: Any, kling: dict[str, Any], fields: dict[str, Any], credits: float, uc: int
) -> None:
    task = api.create({**kling, **fields}).json()
    emulator.clock.advance(10)
    done = api.task(task["id"]).json()

    assert task["usage"]["credits_reserved"] == uc  # as the doc page shows it
    assert done["usage"]["credits_used"] == credits
    assert done["billing"]["charged_credits"] == done["billing"]["reserved_credits"] == credits
    assert _credits(api)["user"]["used_credits"] == credits


def test_fractional_prices_add_up_exactly_in_the_balance(
    start_emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    server = start_emulator(credits=100)
    api = api_for(server)
    for _ in range(2):
        assert api.create({**kling, "quality": "1080p"}).status_code == 200  # 35.991 credits each

    assert _credits(api)["user"] == {"remaining_credits": 28.018, "used_credits": 71.982}
    refused = api.create({**kling, "quality": "1080p"})
    assert refused.status_code == 402
    assert refused.json()["error"]["estimated_credits"] == 35.991


def test_an_unlimited_key_spends_the_account_balance_only(
    start_emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    server = start_emulator(credits=30, token_credits=1)  # the key's figure is not a limit
    api = api_for(server)
    assert api.create(kling).status_code == 200
    data = _credits(api)
    assert data["user"] == {"remaining_credits": 3, "used_credits": KLING_CREDITS}
    assert data["token"]["used_credits"] == KLING_CREDITS and data["token"]["unlimited_credits"] is True

    refused = api.create(kling)
    error = refused.json()["error"]
    assert refused.status_code == 402
    assert (error["code"], error["type"]) == ("insufficient_quota", "insufficient_quota_error")
    assert error["estimated_credits"] == KLING_CREDITS and error["account_balance_credits"] == 3
    assert len(server.state.tasks()) == 1


def test_a_limited_key_answers_key_quota_exhausted_with_its_figures(
    start_emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    server = start_emulator(credits=10**7, token_credits=30, token_unlimited=False)
    api = api_for(server)
    assert api.create(kling).status_code == 200

    refused = api.create(kling)

    assert refused.status_code == 402
    error = refused.json()["error"]
    assert (error["code"], error["type"]) == ("key_quota_exhausted", "insufficient_quota_error")
    assert {key: error[key] for key in error if key.endswith("_credits")} == {
        "estimated_credits": KLING_CREDITS,
        "account_balance_credits": 10**7 - KLING_CREDITS,
        "total_limit_credits": 30,
        "used_credits": KLING_CREDITS,
        "remaining_credits": 3,
    }
    data = _credits(api)
    assert data["token"] == {
        "remaining_credits": 3,
        "used_credits": KLING_CREDITS,
        "unlimited_credits": False,
    }
    assert len(server.state.tasks()) == 1


def test_the_account_balance_is_checked_before_the_key_limit(
    start_emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    server = start_emulator(credits=10, token_credits=10, token_unlimited=False)
    assert api_for(server).create(kling).json()["error"]["code"] == "insufficient_quota"


def test_set_credits_switches_each_figure(emulator: Any, api: Any, kling: dict[str, Any]) -> None:
    emulator.state.set_credits(user=10**6, token=10, unlimited=False)
    assert api.create(kling).json()["error"]["code"] == "key_quota_exhausted"
    emulator.state.set_credits(unlimited=True)
    assert api.create(kling).status_code == 200
    emulator.state.set_credits(5)  # both figures, the old single-balance switch
    data = _credits(api)
    assert data["user"]["remaining_credits"] == data["token"]["remaining_credits"] == 5
    assert api.create(kling).json()["error"]["code"] == "insufficient_quota"


@pytest.mark.parametrize(
    ("arrange", "status", "code"),
    [
        (lambda faults: faults.fail_next_jobs("service_error"), "failed", "service_error"),
        (lambda faults: faults.cancel_next_jobs(), "cancelled", "request_cancelled"),
    ],
)
def test_failed_and_cancelled_tasks_are_refunded_with_proof(
    emulator: Any, api: Any, arrange: Any, status: str, code: str
) -> None:
    arrange(emulator.faults)
    task_id = api.create().json()["id"]
    running = api.task(task_id).json()
    assert _credits(api)["user"]["used_credits"] == KLING_CREDITS  # reserved while it runs
    emulator.clock.advance(10)

    body = api.task(task_id).json()
    data = _credits(api)

    assert (body["status"], body["error"]["code"]) == (status, code)
    assert body["error"]["message"]
    assert running["billing"]["charge_status"] == "reserved"
    billing = body["billing"]
    # What Evolink's client needs to count a refund as done (section 10): all four together.
    assert (billing["refund_status"], billing["charge_status"]) == ("completed", "released")
    assert billing["refunded_credits"] == billing["reserved_credits"] == KLING_CREDITS
    assert REFUNDED_AT.fullmatch(billing["refunded_at"]) and billing["charged_credits"] == 0
    assert billing["refund_scope"] == "account_balance"
    assert body["usage"]["credits_reserved"] == KLING_UC and "credits_used" not in body["usage"]
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


def test_completed_task_reports_credits_used_and_a_charged_billing_object(emulator: Any, api: Any) -> None:
    task_id = api.create().json()["id"]
    running = api.task(task_id).json()
    emulator.clock.advance(10)
    done = api.task(task_id).json()

    assert "credits_used" not in running["usage"]
    assert running["billing"] == {
        "refund_scope": "account_balance",
        "charge_status": "reserved",
        "refund_status": "unknown",
        "reserved_credits": KLING_CREDITS,
        "charged_credits": 0,
        "refunded_credits": 0,
        "refunded_at": None,
    }
    assert done["usage"]["credits_used"] == KLING_CREDITS and done["usage"]["credits_reserved"] == KLING_UC
    assert done["billing"] == {
        "refund_scope": "account_balance",
        "charge_status": "charged",
        "refund_status": "not_required",
        "reserved_credits": KLING_CREDITS,
        "charged_credits": KLING_CREDITS,
        "refunded_credits": 0,
        "refunded_at": None,
    }
    assert _credits(api)["user"]["used_credits"] == KLING_CREDITS
    (task,) = emulator.state.tasks()
    assert (task["uc"], task["credits"], task["credits_reserved"]) == (KLING_UC, KLING_CREDITS, KLING_UC)


def test_cancelled_override_over_http_gets_request_cancelled(api: Any, emulator: Any) -> None:
    api.control("POST", "jobs", {"status": "cancelled"})
    task_id = api.create().json()["id"]
    emulator.clock.advance(10)
    body = api.task(task_id).json()
    assert body["status"] == "cancelled"
    assert body["error"]["code"] == "request_cancelled"
    assert "results" not in body and body["task_info"]["can_cancel"] is False


def test_credits_over_http(api: Any, kling: dict[str, Any]) -> None:
    shown = api.control("POST", "credits", {"user": 10**6, "token": 10, "unlimited": False}).json()
    assert shown["data"]["token"] == {"remaining_credits": 10, "used_credits": 0, "unlimited_credits": False}
    assert shown["data"]["user"]["remaining_credits"] == 10**6
    assert api.create(kling).json()["error"]["code"] == "key_quota_exhausted"
    for bad in ({"unlimited": "yes"}, {"user": "lots"}, {"tokens": 1}, {}):
        assert api.control("POST", "credits", bad).status_code == 400, bad

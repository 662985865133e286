"""The gateway's Idempotency-Key ledger: replay, conflict, in-flight keys, faults after processing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

POST = "/v1/videos/generations"
KEY = "order-42-abcdefghijkl"


def _wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_same_key_replays_the_same_task_without_charging(api: Any, emulator: Any) -> None:
    first = api.create(headers={"Idempotency-Key": KEY})
    emulator.clock.advance(3)
    again = api.create(headers={"Idempotency-Key": KEY})

    assert "idempotency-replayed" not in first.headers
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotency-replayed"] == "true"
    assert "Idempotent-Replayed" not in again.headers  # the old, wrong name is gone
    assert api.credits().json()["data"]["user"]["used_credits"] == 27
    stats = emulator.state.stats()
    assert (stats["tasks_created"], stats["replayed_posts"]) == (1, 1)
    log = emulator.state.requests()
    assert [(r["idempotency_key"], r["task_created"], r["replay"]) for r in log[:2]] == [
        (KEY, True, False),
        (KEY, False, True),
    ]


def test_same_key_with_another_body_is_409_idempotency_conflict(api: Any, kling: dict[str, Any]) -> None:
    api.create(kling, headers={"Idempotency-Key": KEY})
    conflict = api.create({**kling, "duration": 6}, headers={"Idempotency-Key": KEY})
    assert conflict.status_code == 409
    assert conflict.json()["error"] == {
        "code": "idempotency_conflict",
        "type": "invalid_request_error",
        "message": "Idempotency-Key reused with a different request body",
    }


def test_keys_are_per_api_key_and_ignore_json_key_order(
    emulator: Any, api_for: Any, kling: dict[str, Any]
) -> None:
    alice, bob = api_for(emulator, "sk-alice"), api_for(emulator, "sk-bob")
    a = alice.create(kling, headers={"Idempotency-Key": KEY}).json()["id"]
    b = bob.create(kling, headers={"Idempotency-Key": KEY}).json()["id"]
    reordered = dict(reversed(list(kling.items())))
    a_again = alice.create(reordered, headers={"Idempotency-Key": KEY}).json()["id"]
    assert a != b and a_again == a


@pytest.mark.parametrize(
    "key",
    [
        "",
        "short-key",  # 9 characters
        "x" * 15,
        "x" * 97,
        "has space in it 123",
        "colon:is:not:allowed:1",
        "slash/is/not/allowed/1",
        "ünïcode-key-000000000",
    ],
)
def test_malformed_key_is_400_and_creates_nothing(api: Any, emulator: Any, key: str) -> None:
    response = api.session.post(
        f"{api.base_url}{POST}",
        json={"model": "sora-2"},
        headers={"Idempotency-Key": key.encode("utf-8")},  # type: ignore[dict-item]
        timeout=10,
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (
        "invalid_request",
        "Idempotency-Key",
        "invalid_request_error",
    )
    assert "16-96" in error["message"]
    assert emulator.state.tasks() == []
    assert api.credits().json()["data"]["user"]["used_credits"] == 0


@pytest.mark.parametrize("key", ["a" * 16, "A.b_c-0" * 13 + "12345", "airflow-" + "f" * 40])
def test_keys_of_16_to_96_allowed_characters_are_accepted(api: Any, key: str) -> None:
    assert len(key) <= 96
    assert api.create(headers={"Idempotency-Key": key}).status_code == 200


def test_post_without_a_key_still_creates_a_task_each_time(api: Any, emulator: Any) -> None:
    first, second = api.create().json()["id"], api.create().json()["id"]
    assert first != second and len(emulator.state.tasks()) == 2


def test_502_after_create_then_the_same_key_replays_the_created_task(api: Any, emulator: Any) -> None:
    emulator.faults.http_status(502, method="POST", path=POST, after_processing=True)
    lost = api.create(headers={"Idempotency-Key": KEY})
    assert lost.status_code == 502
    assert lost.json()["error"]["type"] == "upstream_error"
    [task] = emulator.state.tasks()

    retry = api.create(headers={"Idempotency-Key": KEY})

    assert retry.status_code == 200
    assert retry.headers["idempotency-replayed"] == "true"
    assert retry.json()["id"] == task["id"]
    assert len(emulator.state.tasks()) == 1  # one job, charged once
    assert api.credits().json()["data"]["user"]["used_credits"] == 27
    assert emulator.state.stats()["tasks_created"] == 1


def test_reset_after_create_then_the_same_key_replays(api: Any, emulator: Any) -> None:
    emulator.faults.reset_connection(method="POST", after_processing=True)
    with pytest.raises(requests.exceptions.ConnectionError):
        api.create(headers={"Idempotency-Key": KEY})
    retry = api.create(headers={"Idempotency-Key": KEY})
    assert retry.headers["idempotency-replayed"] == "true"
    assert [task["id"] for task in emulator.state.tasks()] == [retry.json()["id"]]


def test_delay_after_create_past_the_client_timeout_then_the_same_key_replays(
    api: Any, emulator: Any
) -> None:
    emulator.faults.delay(1.0, method="POST", after_processing=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.session.post(
            f"{api.base_url}{POST}", json={"model": "sora-2"}, headers={"Idempotency-Key": KEY}, timeout=0.3
        )
    # The task exists while the first answer is still held back: the retry is replayed at once.
    retry = api.create({"model": "sora-2"}, headers={"Idempotency-Key": KEY})
    assert retry.status_code == 200 and retry.headers["idempotency-replayed"] == "true"
    assert len(emulator.state.tasks()) == 1


def test_a_fault_before_processing_leaves_the_key_free(api: Any, emulator: Any) -> None:
    emulator.faults.http_status(503, method="POST")
    assert api.create(headers={"Idempotency-Key": KEY}).status_code == 503
    again = api.create(headers={"Idempotency-Key": KEY})
    assert again.status_code == 200 and "idempotency-replayed" not in again.headers
    assert len(emulator.state.tasks()) == 1


def test_a_refused_request_leaves_the_key_free(api: Any, emulator: Any, kling: dict[str, Any]) -> None:
    emulator.state.set_credits(0)
    assert api.create(kling, headers={"Idempotency-Key": KEY}).status_code == 402
    emulator.state.set_credits(10**6)
    assert api.create(kling, headers={"Idempotency-Key": KEY}).status_code == 200
    assert len(emulator.state.tasks()) == 1


def test_same_key_while_the_first_is_in_flight_is_409_paid_outcome_unknown(api: Any, emulator: Any) -> None:
    emulator.faults.delay(1.0, method="POST")  # before processing: nothing exists during the sleep
    outcomes: list[int] = []

    def first() -> None:
        response = requests.post(
            f"{api.base_url}{POST}",
            json={"model": "sora-2"},
            headers={"Authorization": "Bearer sk-test-key", "Idempotency-Key": KEY},
            timeout=10,
        )
        outcomes.append(response.status_code)

    thread = threading.Thread(target=first)
    thread.start()
    _wait_for(lambda: emulator.faults.pending() == [])  # the first request has taken the delay rule
    time.sleep(0.1)  # the first request is now sleeping inside the delay
    busy = api.create({"model": "sora-2"}, headers={"Idempotency-Key": KEY})
    thread.join()

    assert busy.status_code == 409
    error = busy.json()["error"]
    assert error["code"] == "paid_outcome_unknown" and error["type"] == "invalid_request_error"
    assert busy.headers["Retry-After"] == "1"
    assert outcomes == [200]
    # Once the first is done the same key replays its task; nothing was created twice.
    replay = api.create({"model": "sora-2"}, headers={"Idempotency-Key": KEY})
    assert replay.headers["idempotency-replayed"] == "true"
    assert len(emulator.state.tasks()) == 1
    assert emulator.state.stats()["tasks_created"] == 1

"""The /_emulator/ control API: everything the Python API does, over HTTP and without auth."""

from __future__ import annotations

from typing import Any

import requests

KEY_A = "order-a-0000000000000001"
KEY_X = "order-x-0000000000000001"


def test_faults_over_http(api: Any) -> None:
    added = api.control(
        "POST",
        "faults",
        [
            {"kind": "status", "status": 503, "body": "html", "method": "POST", "retry_after": "3"},
            {"kind": "reset", "method": "GET", "path": "/v1/credits", "count": 2},
        ],
    )
    assert added.status_code == 200 and added.json()["added"] == 2
    assert len(api.control("GET", "faults").json()["faults"]) == 2

    refused = api.create()
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "3"
    assert "text/html" in refused.headers["Content-Type"]
    for _ in range(2):
        try:
            api.credits()
            raise AssertionError("expected a reset connection")
        except requests.exceptions.ConnectionError:
            pass
    assert api.credits().status_code == 200


def test_bad_fault_payloads_are_400(api: Any) -> None:
    for payload in ({"kind": "nope"}, {"status": 500}, {"kind": "status", "typo": 1}, [1, 2]):
        response = api.control("POST", "faults", payload)
        assert response.status_code == 400, payload
        assert response.json()["error"]
    assert api.control("GET", "faults").json()["faults"] == []


def test_clear_faults(api: Any) -> None:
    api.control("POST", "faults", {"kind": "status", "status": 500})
    api.control("POST", "jobs", {"status": "failed"})
    api.control("DELETE", "faults")
    listing = api.control("GET", "faults").json()
    assert listing == {"faults": [], "job_overrides": []}
    assert api.credits().status_code == 200


def test_job_overrides_over_http(api: Any) -> None:
    api.control("POST", "jobs", {"error": {"code": "image_processing_error", "message": "bad image"}})
    api.control("POST", "jobs", [{"status": "cancelled"}, {"results": False}, {"job_seconds": 30}])
    ids = [api.create().json()["id"] for _ in range(4)]
    api.control("POST", "clock", {"advance": 10})
    bodies = [api.task(task_id).json() for task_id in ids]

    assert bodies[0]["status"] == "failed"
    assert bodies[0]["error"] == {"code": "image_processing_error", "message": "bad image"}
    assert bodies[1]["status"] == "cancelled"
    assert bodies[2]["status"] == "completed" and bodies[2]["results"] == []
    assert bodies[3]["status"] == "processing"


def test_error_code_shorthand_and_bad_overrides(api: Any) -> None:
    assert api.control("POST", "jobs", {"error": "generation_timeout", "count": 0}).status_code == 400
    assert api.control("POST", "jobs", {"statuz": "failed"}).status_code == 400
    listing = api.control("POST", "jobs", {"error": "generation_timeout"}).json()["job_overrides"]
    assert listing[0]["status"] == "failed" and listing[0]["error"]["code"] == "generation_timeout"


def test_clock_advance_and_result_expiry_over_http(api: Any) -> None:
    task_id = api.create().json()["id"]
    assert api.control("POST", "clock", {"advance": 10}).json()["offset"] == 10
    url = api.task(task_id).json()["results"][0]
    assert api.control("POST", "results/expire").json() == {"expired": 1}
    assert requests.get(url, timeout=5).status_code == 403
    assert api.control("POST", "clock", {"advance": -1}).status_code == 400
    assert api.control("POST", "clock", {"seconds": 1}).status_code == 400


def test_requests_stats_and_tasks_over_http(api: Any, kling: dict[str, Any]) -> None:
    hook = "https://hooks.example.com/evolink"
    task_id = api.create({**kling, "callback_url": hook}, headers={"Idempotency-Key": KEY_A}).json()["id"]
    api.create({**kling, "callback_url": hook}, headers={"Idempotency-Key": KEY_A})
    api.task(task_id)
    api.task(task_id)

    log = api.control("GET", "requests").json()["requests"]
    stats = api.control("GET", "stats").json()
    tasks = api.control("GET", "tasks").json()["tasks"]

    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", "/v1/videos/generations", 200),
        ("POST", "/v1/videos/generations", 200),
        ("GET", f"/v1/tasks/{task_id}", 200),
        ("GET", f"/v1/tasks/{task_id}", 200),
    ]
    assert log[0]["idempotency_key"] == KEY_A and log[0]["credits_charged"] == 27
    assert log[0]["uc_charged"] == 270_000
    assert all(isinstance(r["time"], float) for r in log)
    assert stats["by_route"] == {"POST /v1/videos/generations": 2, "GET /v1/tasks/{task_id}": 2}
    assert (stats["requests"], stats["tasks_created"], stats["paid_posts"], stats["replayed_posts"]) == (
        4,
        1,
        1,
        1,
    )
    assert tasks[0]["id"] == task_id and tasks[0]["callback_url"] == hook  # recorded, never called


def test_reset_restores_a_fresh_emulator(start_emulator: Any, api_for: Any) -> None:
    server = start_emulator(credits=1_000_000)
    api = api_for(server)
    task_id = api.create(headers={"Idempotency-Key": KEY_X}).json()["id"]
    api.control("POST", "faults", {"kind": "status", "status": 500, "path": "/v1/credits"})
    api.control("POST", "clock", {"advance": 100})

    assert api.control("POST", "reset").status_code == 200

    assert api.task(task_id).status_code == 404
    assert api.credits().json()["data"]["token"] == {
        "remaining_credits": 1_000_000,
        "used_credits": 0,
        "unlimited_credits": True,
    }
    assert server.clock.offset == 0
    assert api.create(headers={"Idempotency-Key": KEY_X}).json()["id"] != task_id
    log = api.control("GET", "requests").json()["requests"]
    assert [(r["path"], r["status"]) for r in log] == [  # only what came after the reset
        (f"/v1/tasks/{task_id}", 404),
        ("/v1/credits", 200),
        ("/v1/videos/generations", 200),
    ]


def test_set_credits_over_http_then_402(api: Any) -> None:
    assert (
        api.control("POST", "credits", {"remaining": 20}).json()["data"]["token"]["remaining_credits"] == 20
    )
    assert api.create().status_code == 402  # a 5 s 720p kling-v3 clip costs 27 credits
    assert api.control("POST", "credits", {"remaining": "lots"}).status_code == 400


def test_control_routes_need_no_auth_and_are_not_logged(api: Any) -> None:
    assert requests.get(f"{api.base_url}/_emulator/stats", timeout=5).status_code == 200
    assert api.control("GET", "requests").json() == {"requests": []}


def test_fault_presets_over_http(api: Any, emulator: Any) -> None:
    added = api.control("POST", "faults", {"preset": "post-502-after-create", "count": 2})
    assert added.status_code == 200
    [rule] = added.json()["faults"]
    assert (rule["kind"], rule["status"], rule["method"], rule["after_processing"], rule["count"]) == (
        "status",
        502,
        "POST",
        True,
        2,
    )
    lost = api.create(headers={"Idempotency-Key": KEY_A})
    assert lost.status_code == 502 and len(emulator.state.tasks()) == 1
    replay = api.create(headers={"Idempotency-Key": KEY_A})  # the second use of the rule replaces it too
    assert replay.status_code == 502
    replay = api.create(headers={"Idempotency-Key": KEY_A})
    assert replay.status_code == 200 and replay.headers["idempotency-replayed"] == "true"
    assert len(emulator.state.tasks()) == 1
    assert api.control("POST", "faults", {"preset": "post-404-whenever"}).status_code == 400


def test_fail_after_create_and_presets_from_python(api: Any, emulator: Any) -> None:
    emulator.faults.fail_after_create()
    emulator.faults.preset("get-429")
    assert api.create(headers={"Idempotency-Key": KEY_X}).status_code == 502
    limited = api.credits()
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert api.create(headers={"Idempotency-Key": KEY_X}).headers["idempotency-replayed"] == "true"
    assert emulator.state.stats()["tasks_created"] == 1

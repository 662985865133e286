"""POST /v1/tasks/batch: up to 50 task objects in one answer; unknown and foreign ids are absent."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from airflow_evolink.emulator import EmulatorServer

Api = Any  # the `requests` client of tests/emulator/conftest.py


def batch(api: Api, task_ids: Any) -> Any:
    return api.session.post(f"{api.base_url}/v1/tasks/batch", json={"task_ids": task_ids}, timeout=10)


def test_answers_the_same_task_objects_as_single_gets(api: Api) -> None:
    ids = [api.create().json()["id"] for _ in range(3)]
    answer = batch(api, [*ids, "task-unified-1-unknown1", ids[0]])
    assert answer.status_code == 200
    items = answer.json()["data"]
    assert [item["id"] for item in items] == ids  # each once, in the order asked; the unknown id absent
    for item in items:
        single = api.task(item["id"]).json()
        assert set(item) == set(single) and item["status"] == single["status"] == "pending"
    assert api.control("GET", "batch").json() == {
        "enabled": True,
        "results": True,
        "stale": False,
        "requests": 1,
        "task_ids": 5,
        "items": 3,
    }


def test_tasks_of_another_key_are_absent(start_emulator: Callable[..., EmulatorServer], api_for) -> None:
    server = start_emulator(job_seconds=0)
    mine, theirs = api_for(server, "sk-mine"), api_for(server, "sk-theirs")
    task_id = mine.create().json()["id"]
    assert [item["id"] for item in batch(mine, [task_id]).json()["data"]] == [task_id]
    assert batch(theirs, [task_id]).json() == {"data": []}


def test_finished_items_carry_results_unless_switched_off(
    start_emulator: Callable[..., EmulatorServer], api_for
) -> None:
    server = start_emulator(job_seconds=0)
    api = api_for(server)
    task_id = api.create().json()["id"]
    (item,) = batch(api, [task_id]).json()["data"]
    assert item["status"] == "completed" and item["results"] == [f"{server.base_url}/files/{task_id}.mp4"]
    assert api.control("POST", "batch", {"results": False}).json()["results"] is False
    (item,) = batch(api, [task_id]).json()["data"]
    assert item["status"] == "completed" and "results" not in item
    assert api.task(task_id).json()["results"]  # the single GET still has them


def test_stale_items_show_the_task_as_of_its_last_single_get(
    start_emulator: Callable[..., EmulatorServer], api_for
) -> None:
    server = start_emulator(job_seconds=0.3)
    api = api_for(server)
    task_id = api.create().json()["id"]
    assert api.control("POST", "batch", {"stale": True}).json()["stale"] is True
    time.sleep(0.5)  # the job has ended by now
    (item,) = batch(api, [task_id]).json()["data"]
    assert item["status"] == "pending"  # as created: no GET has synced it yet
    assert api.task(task_id).json()["status"] == "completed"
    (item,) = batch(api, [task_id]).json()["data"]
    assert item["status"] == "completed"


def test_bad_bodies_are_400(api: Api) -> None:
    task_id = api.create().json()["id"]
    for body in ([], "x", [1], None):
        assert batch(api, body).status_code == 400, body
    assert batch(api, [task_id] * 51).status_code == 400
    assert batch(api, [task_id] * 50).status_code == 200
    no_json = api.session.post(f"{api.base_url}/v1/tasks/batch", data=b"{", timeout=10)
    assert no_json.status_code == 400


def test_needs_the_key_like_every_v1_route(emulator: EmulatorServer) -> None:
    import requests

    answer = requests.post(
        f"{emulator.base_url}/v1/tasks/batch", json={"task_ids": ["task-unified-1-abcdefgh"]}, timeout=10
    )
    assert answer.status_code == 401


def test_the_switch_answers_404_as_a_gateway_without_the_route(
    start_emulator: Callable[..., EmulatorServer], api_for
) -> None:
    api = api_for(start_emulator(batch_route=False))
    task_id = api.create().json()["id"]
    missing = batch(api, [task_id])
    assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found_error"
    assert api.control("GET", "batch").json()["enabled"] is False
    api.control("POST", "batch", {"enabled": True})
    assert batch(api, [task_id]).status_code == 200
    counts = api.control("POST", "batch", {"enabled": False, "reset_counts": True}).json()
    assert counts == {
        "enabled": False,
        "results": True,
        "stale": False,
        "requests": 0,
        "task_ids": 0,
        "items": 0,
    }
    assert batch(api, [task_id]).status_code == 404


def test_bad_switch_payloads_are_400(api: Api) -> None:
    for payload in ({"enabled": "no"}, {"typo": True}, [True]):
        assert api.control("POST", "batch", payload).status_code == 400, payload
    assert api.control("GET", "batch").json()["enabled"] is True


def test_faults_apply_to_the_batch_route(emulator: EmulatorServer, api: Api) -> None:
    task_id = api.create().json()["id"]
    emulator.faults.http_status(503, method="POST", path="/v1/tasks/batch", retry_after=1)
    refused = batch(api, [task_id])
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
    assert batch(api, [task_id]).status_code == 200
    assert emulator.state.stats()["by_route"]["POST /v1/tasks/batch"] == 2

"""Task bodies as the real API varies them: an unlisted interim status, result and cost shapes, extras."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_evolink.emulator import EmulatorConfig

KLING_CREDITS = 27  # a 5 s 720p kling-v3 clip (emulator/pricing.py)
KLING_UC = 270_000


def _statuses(api: Any, server: Any, task_id: str, steps: int = 20, seconds: float = 10) -> list[str]:
    seen = []
    for _ in range(steps):
        seen.append(api.task(task_id).json()["status"])
        server.clock.advance(seconds / steps)
    seen.append(api.task(task_id).json()["status"])
    return list(dict.fromkeys(seen))  # distinct, in order


def test_interim_status_from_config_sits_between_pending_and_processing(
    start_emulator: Any, api_for: Any
) -> None:
    server = start_emulator(job_seconds=10, interim_share=0.4)
    api = api_for(server)
    task_id = api.create().json()["id"]

    assert _statuses(api, server, task_id) == ["pending", "in_queue", "processing", "completed"]


def test_interim_status_body_is_a_running_task(start_emulator: Any, api_for: Any) -> None:
    server = start_emulator(job_seconds=10, interim_share=0.4, interim_status="queued_upstream")
    api = api_for(server)
    task_id = api.create().json()["id"]
    server.clock.advance(2)
    body = api.task(task_id).json()
    assert body["status"] == "queued_upstream" and body["progress"] == 0
    assert body["task_info"]["can_cancel"] is True and body["task_info"]["estimated_time"] == 8
    assert body["billing"]["charge_status"] == "reserved" and "results" not in body
    server.clock.advance(3)
    assert api.task(task_id).json()["status"] == "processing"


def test_interim_status_per_job_from_python_and_http(api: Any, emulator: Any) -> None:
    emulator.faults.interim_status(share=0.5, status="in_queue")
    api.control("POST", "jobs", {"interim_status": "waiting", "interim_share": 0.5})
    first, second, plain = (api.create().json()["id"] for _ in range(3))
    emulator.clock.advance(3)
    assert [api.task(task_id).json()["status"] for task_id in (first, second, plain)] == [
        "in_queue",
        "waiting",
        "processing",
    ]
    emulator.clock.advance(7)
    assert {api.task(task_id).json()["status"] for task_id in (first, second, plain)} == {"completed"}


@pytest.mark.parametrize(
    "settings",
    [
        {"interim_share": 0.9},
        {"interim_share": -0.1},
        {"interim_status": "processing"},
        {"interim_status": ""},
        {"result_shape": "urls"},
        {"cost_shape": "price"},
        {"extra_fields": 2.0},
    ],
)
def test_bad_shape_and_interim_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        EmulatorConfig(**settings)


def test_bad_job_overrides_over_http_are_400(api: Any) -> None:
    for bad in ({"result_shape": "urls"}, {"interim_share": "lots"}, {"interim_status": "failed"}):
        assert api.control("POST", "jobs", bad).status_code == 400, bad


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("results", lambda url: {"results": [url]}),
        ("result_data_list", lambda url: {"result_data": [{"video_url": url}]}),
        ("result_data_object", lambda url: {"result_data": {"video_url": url}}),
        ("output", lambda url: {"output": {"video_url": url}}),
        ("video_url", lambda url: {"video_url": url}),
    ],
)
def test_result_shapes(start_emulator: Any, api_for: Any, shape: str, expected: Any) -> None:
    server = start_emulator(job_seconds=0, result_shape=shape)
    api = api_for(server)
    task_id = api.create().json()["id"]
    body = api.task(task_id).json()
    url = f"{server.base_url}/files/{task_id}.mp4"

    links = {key: body[key] for key in ("results", "result_data", "output", "video_url") if key in body}
    assert links == expected(url)
    assert api.session.get(url, timeout=10).status_code == 200  # the link works whatever its shape


def test_cost_shape_usd_at_68_credits_per_dollar(start_emulator: Any, api_for: Any) -> None:
    server = start_emulator(job_seconds=0, cost_shape="cost")
    api = api_for(server)
    usage = api.task(api.create().json()["id"]).json()["usage"]
    assert usage["cost"] == {"credits": KLING_CREDITS, "usd": 0.397059}  # 27 / 68, to 6 places
    assert "credits_used" not in usage and usage["credits_reserved"] == KLING_UC  # the doc page's figure


def test_shapes_per_job_from_python_and_http(api: Any, emulator: Any) -> None:
    emulator.faults.next_jobs_shape(result_shape="output", cost_shape="cost")
    api.control("POST", "jobs", {"result_shape": "result_data_object", "extra_fields": True})
    shaped, posted, plain = (api.create().json()["id"] for _ in range(3))
    emulator.clock.advance(10)
    one, two, three = (api.task(task_id).json() for task_id in (shaped, posted, plain))

    assert "output" in one and "cost" in one["usage"] and "results" not in one
    assert isinstance(two["result_data"], dict) and two["draft_expires_at"] == two["created"] + 86_400
    assert two["video_duration"] == 5
    assert "results" in three and "credits_used" in three["usage"] and "draft_expires_at" not in three


def test_mixed_shapes_pick_every_variant_and_repeat_with_the_seed(start_emulator: Any, api_for: Any) -> None:
    def shapes(seed: int) -> list[tuple[str, str]]:
        server = start_emulator(job_seconds=0, result_shape="mixed", cost_shape="mixed", seed=seed)
        api = api_for(server)
        seen = []
        for _ in range(40):
            body = api.task(api.create().json()["id"]).json()
            link = next(key for key in ("results", "result_data", "output", "video_url") if key in body)
            if link == "result_data":
                link += "_list" if isinstance(body["result_data"], list) else "_object"
            seen.append((link, "cost" if "cost" in body["usage"] else "credits_used"))
        return seen

    first = shapes(3)
    assert {link for link, _ in first} == {
        "results",
        "result_data_list",
        "result_data_object",
        "output",
        "video_url",
    }
    assert {cost for _, cost in first} == {"cost", "credits_used"}
    assert shapes(3) == first


def test_extra_fields_share_and_failed_task_extras(start_emulator: Any, api_for: Any) -> None:
    server = start_emulator(job_seconds=0, extra_fields=1.0)
    api = api_for(server)
    server.faults.fail_next_jobs("service_error")
    failed = api.task(api.create().json()["id"]).json()
    assert failed["error"]["code"] == "service_error" and failed["error"]["suggestion"]
    assert "draft_expires_at" in failed and failed["video_duration"] == 5

    some = start_emulator(job_seconds=0, extra_fields=0.5, seed=1)
    api = api_for(some)
    flags = ["draft_expires_at" in api.task(api.create().json()["id"]).json() for _ in range(30)]
    assert 5 <= sum(flags) <= 25


def test_completed_without_results_in_each_shape(start_emulator: Any, api_for: Any) -> None:
    for shape, expected in (
        ("results", {"results": []}),
        ("result_data_list", {"result_data": []}),
        ("output", {}),
    ):
        server = start_emulator(job_seconds=0, result_shape=shape)
        api = api_for(server)
        server.faults.complete_without_results()
        body = api.task(api.create().json()["id"]).json()
        links = {key: body[key] for key in ("results", "result_data", "output", "video_url") if key in body}
        assert (body["status"], links) == ("completed", expected)
        assert body["billing"]["charge_status"] == "charged"

"""EvolinkVideoTrigger: plain-JSON serialization, and run() against the real emulator.

Every run must yield exactly one event, whatever happens to the task or the network. The run() tests go
through both ways a trigger reads its task: batch reads (POST /v1/tasks/batch, the default) and single
GETs (batching off, or a gateway without the batch route), and expect the same events from both.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

import pytest

from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.triggers import batch
from airflow_evolink.triggers.evolink import EvolinkVideoTrigger
from tests.conftest import connection_json

CLASSPATH = "airflow_evolink.triggers.evolink.EvolinkVideoTrigger"
RETRY = {"max_attempts": 4, "initial_wait": 0.01, "max_wait": 0.02, "jitter": 0}
KLING = {
    "model": "kling-v3-image-to-video",
    "prompt": "a test",
    "image_start": "https://example.com/a.png",
    "duration": 5,
}


def make_trigger(task_id: str, **kwargs: Any) -> EvolinkVideoTrigger:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("retry_policy", RETRY)
    return EvolinkVideoTrigger(task_id, **kwargs)


def submit() -> str:
    return EvolinkHook("evolink_default", sleep=lambda _s: None).submit_video(KLING).id


async def only_event(trigger: EvolinkVideoTrigger) -> dict[str, Any]:
    events = [event async for event in trigger.run()]
    assert len(events) == 1, events
    payload = events[0].payload
    assert json.loads(json.dumps(payload)) == payload, "the event must be plain JSON"
    return payload


@pytest.fixture(autouse=True, params=["batch", "single"])
def reading(request, monkeypatch) -> str:
    """Run each test with batch reads and with single GETs."""
    monkeypatch.setattr(batch, "BATCH_POLLING", request.param == "batch")
    return request.param


def reads(emulator) -> list[dict[str, Any]]:
    """Every read of a task: single GETs and batch reads."""
    return [r for r in emulator.state.requests() if r["path"].startswith("/v1/tasks/")]


def gets(emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.state.requests() if r["method"] == "GET"]


# ---- serialization -----------------------------------------------------------------------------------


def test_serialize_is_plain_json_with_the_classpath():
    trigger = EvolinkVideoTrigger(
        "task-unified-1757169743-7cvnl5zw",
        evolink_conn_id="evolink_other",
        poll_interval=15.0,
        deadline=1_800_000_000.5,
        retry_policy=RETRY,
        started_at=1_799_999_000.25,
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs == {
        "evolink_task_id": "task-unified-1757169743-7cvnl5zw",
        "evolink_conn_id": "evolink_other",
        "poll_interval": 15.0,
        "deadline": 1_800_000_000.5,
        "retry_policy": RETRY,
        "started_at": 1_799_999_000.25,
    }


def test_classpath_imports_the_trigger():
    import importlib

    module, _, name = EvolinkVideoTrigger("abcd").serialize()[0].rpartition(".")
    assert getattr(importlib.import_module(module), name) is EvolinkVideoTrigger


def test_defaults_serialize_as_json():
    before = time.time()
    classpath, kwargs = EvolinkVideoTrigger("task-unified-1-abcdefgh").serialize()
    assert classpath == CLASSPATH
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert kwargs["evolink_conn_id"] == "evolink_default"
    assert kwargs["poll_interval"] is None and kwargs["deadline"] is None and kwargs["retry_policy"] is None
    assert before <= kwargs["started_at"] <= time.time()


def test_rebuilt_trigger_serializes_identically():
    deadline = time.time() + 3600
    original = EvolinkVideoTrigger("task-unified-1-abcdefgh", deadline=deadline, retry_policy=RETRY)
    classpath, kwargs = original.serialize()
    time.sleep(0.01)  # a rebuild happens later, on another triggerer
    rebuilt = EvolinkVideoTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.deadline == deadline  # absolute, not "one hour from now"
    assert rebuilt.started_at == original.started_at


# ---- run() against the emulator ----------------------------------------------------------------------


async def test_success_yields_result_urls(clean_emulator):
    # Longer than a batch read's first-poll window (0.5 s), so the task is seen running first.
    clean_emulator.faults.next_jobs_seconds(1.5)
    task_id = submit()
    event = await only_event(make_trigger(task_id))
    assert event["status"] == "success"
    assert event["evolink_task_id"] == task_id
    assert event["result_urls"] == [f"{clean_emulator.base_url}/files/{task_id}.mp4"]
    assert event["task"]["status"] == "completed"
    assert event["task"]["results"] == event["result_urls"]
    assert len(reads(clean_emulator)) >= 2  # it polled until the job finished


@pytest.mark.parametrize(
    ("code", "retryable"), [("content_policy_violation", False), ("service_error", True)]
)
async def test_failed_task_yields_code_and_retryability(clean_emulator, code, retryable):
    clean_emulator.faults.fail_next_jobs(code, message="it went wrong", job_seconds=0.3)
    task_id = submit()
    event = await only_event(make_trigger(task_id))
    assert event["status"] == "failed"
    assert event["code"] == code
    assert event["retryable"] is retryable
    assert code in event["message"] and "it went wrong" in event["message"]
    assert event["task"]["status"] == "failed"
    assert event["task"]["error"]["code"] == code


async def test_cancelled_task_yields_failed(clean_emulator):
    clean_emulator.faults.next_jobs_status("cancelled", job_seconds=0.3)
    task_id = submit()
    event = await only_event(make_trigger(task_id))
    assert event["status"] == "failed"
    assert event["code"] == "request_cancelled"
    assert event["retryable"] is False
    assert "cancelled" in event["message"]


async def test_unlisted_status_is_polled_until_the_deadline(clean_emulator, capsys):
    # Only completed, failed and cancelled end a task: a job that stays in a status the API does not
    # document is still running, and the wait's deadline is what bounds it.
    clean_emulator.faults.next_jobs_status("weird", job_seconds=0.3)
    task_id = submit()
    await asyncio.sleep(0.4)
    event = await only_event(make_trigger(task_id, poll_interval=0.2, deadline=time.time() + 1.5))
    assert event["status"] == "timeout"
    assert "weird" in event["message"]
    assert len(reads(clean_emulator)) >= 3
    # Airflow's structured logging writes to stdout.
    assert capsys.readouterr().out.count("reports status 'weird', which the API does not document") == 1


async def test_completed_without_results_yields_failed(clean_emulator):
    clean_emulator.faults.complete_without_results(job_seconds=0.3)
    task_id = submit()
    event = await only_event(make_trigger(task_id))
    assert event["status"] == "failed"
    assert event["code"] == "no_results"
    assert "no result URLs" in event["message"]
    assert "result_urls" not in event


async def test_deadline_in_the_past_yields_timeout(clean_emulator):
    task_id = submit()  # the session emulator's jobs take 3 s: still pending at the first poll
    started = time.time() - 120
    event = await only_event(make_trigger(task_id, deadline=time.time() - 1, started_at=started))
    assert event["status"] == "timeout"
    assert event["evolink_task_id"] == task_id
    assert 119 <= event["waited_seconds"] <= 125
    match = re.search(r"did not finish within (\d+) s", event["message"])
    assert match and 119 <= int(match.group(1)) <= 125, event["message"]
    assert "may still be running" in event["message"]
    assert event["task"]["status"] in ("pending", "processing")
    assert len(reads(clean_emulator)) == 1


async def test_deadline_reached_while_polling_yields_timeout(clean_emulator):
    task_id = submit()
    start = time.monotonic()
    event = await only_event(make_trigger(task_id, poll_interval=10.0, deadline=time.time() + 0.5))
    assert event["status"] == "timeout"
    assert time.monotonic() - start < 3.0  # the 10 s poll interval was cut short at the deadline


async def test_unknown_task_yields_non_retryable_error(clean_emulator, reading):
    event = await only_event(make_trigger("task-unified-1757169743-zzzzzzzz"))
    assert event["status"] == "error"
    assert event["retryable"] is False
    assert event["http_status"] == 404
    assert event["evolink_task_id"] == "task-unified-1757169743-zzzzzzzz"
    # 404 is not retried. A batch read leaves the unknown id out; the trigger then reads it alone.
    assert [r["status"] for r in gets(clean_emulator)] == [404]
    assert len(reads(clean_emulator)) == (2 if reading == "batch" else 1)


async def test_malformed_task_id_yields_error_without_a_request(clean_emulator):
    event = await only_event(make_trigger("bad id/../x"))
    assert event["status"] == "error"
    assert event["retryable"] is False
    assert "evolink_task_id" in event["message"]
    assert clean_emulator.state.requests() == []


async def test_transient_503_is_retried_inside_the_trigger(clean_emulator):
    clean_emulator.faults.next_jobs_seconds(0.3)
    task_id = submit()
    clean_emulator.faults.http_status(503, path="/v1/tasks/", count=2)
    event = await only_event(make_trigger(task_id))
    assert event["status"] == "success"
    statuses = [r["status"] for r in reads(clean_emulator)]
    assert statuses[:3] == [503, 503, 200]


async def test_persistent_503_yields_retryable_error_after_max_attempts(clean_emulator, monkeypatch):
    monkeypatch.setattr(batch.TaskBatchPoller, "_proven", True)  # a batch route that has answered before
    task_id = submit()
    clean_emulator.faults.http_status(503, path="/v1/tasks/", count=50)
    event = await only_event(make_trigger(task_id))
    assert event["status"] == "error"
    assert event["retryable"] is True
    assert event["http_status"] == 503
    assert len(reads(clean_emulator)) == RETRY["max_attempts"]


async def test_wrong_api_key_yields_non_retryable_error(clean_emulator, monkeypatch):
    task_id = submit()
    monkeypatch.setenv("AIRFLOW_CONN_EVOLINK_WRONG_KEY", connection_json(clean_emulator.base_url, "sk-wrong"))
    event = await only_event(make_trigger(task_id, evolink_conn_id="evolink_wrong_key"))
    assert event["status"] == "error"
    assert event["retryable"] is False
    assert event["http_status"] == 401
    assert "sk-wrong" not in json.dumps(event)

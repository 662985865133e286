"""Batch reads in the triggerer: many EvolinkVideoTriggers in one event loop share POST /v1/tasks/batch.

Real HTTP against the emulator on 127.0.0.1. The counts come from the emulator: its request log (GETs and
batch requests) and its batch route's counters (task ids asked for).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
import requests

from airflow_evolink.emulator import EmulatorServer
from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.triggers import batch
from airflow_evolink.triggers.evolink import EvolinkVideoTrigger
from tests.conftest import TEST_API_KEY

RETRY = {"max_attempts": 3, "initial_wait": 0.01, "max_wait": 0.02, "jitter": 0}
TEXT = {"model": "kling-v3-text-to-video", "prompt": "a test"}
UNKNOWN = "task-unified-1757169743-zzzzzzzz"


class Route:
    """The emulator's batch route: its switches and counters, restored after the test."""

    def __init__(self, emulator: EmulatorServer) -> None:
        self.emulator = emulator
        self.url = f"{emulator.base_url}/_emulator/batch"

    def set(self, **switches: bool) -> dict[str, Any]:
        answer = requests.post(self.url, json=switches, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def counts(self) -> dict[str, Any]:
        return requests.get(self.url, timeout=10).json()

    def batches(self) -> list[dict[str, Any]]:
        return [r for r in self.emulator.state.requests() if r["path"] == "/v1/tasks/batch"]

    def gets(self) -> list[dict[str, Any]]:
        return [r for r in self.emulator.state.requests() if r["method"] == "GET"]


@pytest.fixture
def route(clean_emulator: EmulatorServer, monkeypatch):
    monkeypatch.setattr(batch, "BATCH_POLLING", True)
    helper = Route(clean_emulator)
    helper.set(enabled=True, results=True, stale=False, reset_counts=True)
    yield helper
    helper.set(enabled=True, results=True, stale=False, reset_counts=True)


def submit(count: int, emulator: EmulatorServer, job_seconds: float = 1.5) -> list[str]:
    emulator.faults.next_jobs_seconds(job_seconds, count=count)
    hook = EvolinkHook("evolink_default", sleep=lambda _s: None)
    return [hook.submit_video(TEXT).id for _ in range(count)]


def trigger(task_id: str, **kwargs: Any) -> EvolinkVideoTrigger:
    kwargs.setdefault("poll_interval", 0.2)
    kwargs.setdefault("retry_policy", RETRY)
    return EvolinkVideoTrigger(task_id, **kwargs)


async def event_of(t: EvolinkVideoTrigger) -> dict[str, Any]:
    events = [event.payload async for event in t.run()]
    assert len(events) == 1, events
    assert json.loads(json.dumps(events[0])) == events[0]
    return events[0]


async def events_of(triggers: list[EvolinkVideoTrigger]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(event_of(t) for t in triggers)))


def pollers_idle() -> bool:
    table = batch._POLLERS.get(asyncio.get_running_loop(), {})
    return all(p.waiting == 0 and not p._sending and p._timer is None for p in table.values())


# ---- many triggers, few requests -----------------------------------------------------------------------


async def test_many_triggers_share_batch_reads(route, clean_emulator):
    # Jobs long enough that none ends while the 120 are still being submitted, also on a loaded machine
    # (where that takes seconds): the polls then see all 120 until the jobs end, a second apart at most.
    ids = submit(120, clean_emulator, job_seconds=5.0)
    events = await events_of([trigger(task_id) for task_id in ids])
    assert [e["status"] for e in events] == ["success"] * 120
    assert [e["evolink_task_id"] for e in events] == ids
    assert all(
        e["result_urls"] == [f"{clean_emulator.base_url}/files/{e['evolink_task_id']}.mp4"] for e in events
    )
    counts = route.counts()
    assert route.gets() == []  # every answer came from a batch, results included
    assert counts["requests"] == len(route.batches())
    per_request = counts["task_ids"] / counts["requests"]
    # 120 triggers of 5 s jobs polled every 0.2 s: about 20 rounds of 3 batches (50 + 50 + 20).
    assert per_request >= 30, counts
    # Each trigger was observed several times while its job ran (about 20 rounds unloaded; fewer when the
    # machine is busy, so the bound is loose).
    assert counts["task_ids"] >= 120 * 3
    assert pollers_idle()


async def test_twin_triggers_of_one_task_share_one_id_in_a_batch(route, clean_emulator):
    (task_id,) = submit(1, clean_emulator, job_seconds=0.8)
    events = await events_of([trigger(task_id), trigger(task_id)])
    assert events[0] == events[1] and events[0]["status"] == "success"
    counts = route.counts()
    assert counts["task_ids"] == counts["requests"]  # one id per request, not two


async def test_triggers_with_different_retry_policies_never_share_a_request(route, clean_emulator):
    # Jobs that outlast the polls counted below, also on a loaded machine: while all four run, each
    # request asks for the two tasks of one policy (once a task has ended, its twin may be asked alone).
    ids = submit(4, clean_emulator, job_seconds=5.0)
    other = dict(RETRY, max_attempts=5)
    triggers = [
        trigger(ids[0]),
        trigger(ids[1]),
        trigger(ids[2], retry_policy=other),
        trigger(ids[3], retry_policy=other),
    ]
    waiting = asyncio.ensure_future(events_of(triggers))
    await asyncio.sleep(1.0)
    counts = route.counts()
    assert counts["requests"] >= 2 and counts["task_ids"] == 2 * counts["requests"], counts
    events = await waiting
    assert {e["status"] for e in events} == {"success"}


# ---- answers: absent ids, terminal items without results -------------------------------------------------


async def test_an_absent_id_is_read_alone_and_a_404_is_the_usual_error(route, clean_emulator):
    ids = submit(3, clean_emulator, job_seconds=0.6)
    events = await events_of([trigger(ids[0]), trigger(UNKNOWN), trigger(ids[1]), trigger(ids[2])])
    missing = events[1]
    assert missing["status"] == "error" and missing["http_status"] == 404 and missing["retryable"] is False
    assert missing["evolink_task_id"] == UNKNOWN
    assert [e["status"] for e in events[::2] + events[3:]] == ["success"] * 3
    assert [(r["path"], r["status"]) for r in route.gets()] == [(f"/v1/tasks/{UNKNOWN}", 404)]


async def test_a_finished_task_whose_item_has_no_results_is_read_once_with_get(route, clean_emulator):
    route.set(results=False)
    # 2 s jobs: long enough that a batch reads them before they end, also on a loaded machine (0.6 s jobs
    # once all ended before the second batch read in CI).
    ids = submit(2, clean_emulator, job_seconds=2.0)
    clean_emulator.faults.fail_next_jobs("content_policy_violation", job_seconds=2.0)
    failed = EvolinkHook("evolink_default", sleep=lambda _s: None).submit_video(TEXT).id
    events = await events_of([trigger(ids[0]), trigger(ids[1]), trigger(failed)])
    assert [e["status"] for e in events] == ["success", "success", "failed"]
    assert events[0]["result_urls"] == [f"{clean_emulator.base_url}/files/{ids[0]}.mp4"]
    assert events[2]["code"] == "content_policy_violation"
    # One GET per task, once it has ended; every earlier observation came from a batch.
    assert sorted(r["path"] for r in route.gets()) == sorted(f"/v1/tasks/{t}" for t in [*ids, failed])
    assert route.counts()["requests"] >= 2


# ---- failures --------------------------------------------------------------------------------------------


async def test_a_transient_batch_failure_is_retried(route, clean_emulator):
    ids = submit(5, clean_emulator, job_seconds=0.6)
    clean_emulator.faults.http_status(503, method="POST", path="/v1/tasks/batch", count=1)
    clean_emulator.faults.reset_connection(method="POST", path="/v1/tasks/batch", count=1)
    events = await events_of([trigger(task_id) for task_id in ids])  # 3 attempts: the third succeeds
    assert {e["status"] for e in events} == {"success"}
    assert [r["status"] for r in route.batches()][:3] == [503, 0, 200]
    assert route.gets() == []


async def test_429_does_not_use_up_attempts(route, clean_emulator):
    ids = submit(3, clean_emulator, job_seconds=0.6)
    clean_emulator.faults.http_status(
        429, method="POST", path="/v1/tasks/batch", retry_after=0, count=RETRY["max_attempts"] + 2
    )
    events = await events_of([trigger(task_id) for task_id in ids])
    assert {e["status"] for e in events} == {"success"}
    statuses = [r["status"] for r in route.batches()]
    assert statuses[: RETRY["max_attempts"] + 3] == [429] * (RETRY["max_attempts"] + 2) + [200]


async def test_when_retries_run_out_each_trigger_gets_the_error_of_today(route, clean_emulator, monkeypatch):
    monkeypatch.setattr(batch.TaskBatchPoller, "_proven", True)  # the route has answered before
    ids = submit(4, clean_emulator, job_seconds=30)
    clean_emulator.faults.http_status(503, method="POST", path="/v1/tasks/batch", count=100)
    events = await events_of([trigger(task_id) for task_id in ids])
    for task_id, event in zip(ids, events, strict=True):
        assert event["status"] == "error" and event["evolink_task_id"] == task_id
        assert event["http_status"] == 503 and event["retryable"] is True
    assert len(route.batches()) == RETRY["max_attempts"]  # one request, retried, for all four
    assert route.gets() == []


async def test_a_wrong_key_fails_every_trigger_of_the_batch(route, clean_emulator, monkeypatch):
    from tests.conftest import connection_json

    ids = submit(2, clean_emulator, job_seconds=5)
    monkeypatch.setenv("AIRFLOW_CONN_EVOLINK_BAD", connection_json(clean_emulator.base_url, "sk-bad-9f8e7d"))
    events = await events_of([trigger(task_id, evolink_conn_id="evolink_bad") for task_id in ids])
    assert [(e["status"], e["http_status"], e["retryable"]) for e in events] == [("error", 401, False)] * 2
    assert "sk-bad-9f8e7d" not in json.dumps(events)


# ---- degrading: a gateway without the batch route ----------------------------------------------------------


@pytest.mark.parametrize("status", [404, 405, 400])
async def test_a_missing_route_falls_back_to_single_gets(route, clean_emulator, status):
    # Jobs long enough that every trigger polls several times even on a loaded machine (1 s jobs gave
    # 12 GETs for 6 triggers once, in CI's overlapped run).
    ids = submit(6, clean_emulator, job_seconds=3.0)
    clean_emulator.faults.http_status(status, method="POST", path="/v1/tasks/batch", count=1000)
    events = await events_of([trigger(task_id) for task_id in ids])
    assert {e["status"] for e in events} == {"success"}
    assert [r["status"] for r in route.batches()] == [status]  # probed once, not retried
    gets = route.gets()
    assert {r["path"] for r in gets} == {f"/v1/tasks/{t}" for t in ids}
    assert len(gets) >= 6 * 3  # each trigger went on polling with its own GETs


async def test_the_switch_off_route_is_probed_again_later(route, clean_emulator, monkeypatch, capsys):
    monkeypatch.setattr(batch, "REPROBE_SECONDS", 0.6)
    route.set(enabled=False)
    # Jobs long enough that the route, back after 0.8 s, is read more than once before they end, also on a
    # loaded machine (2.5 s jobs once ended after a single batch read in CI).
    ids = submit(4, clean_emulator, job_seconds=4.0)

    async def switch_on_later() -> None:
        await asyncio.sleep(0.8)
        await asyncio.to_thread(route.set, enabled=True)

    results = await asyncio.gather(switch_on_later(), *(event_of(trigger(t)) for t in ids))
    assert {e["status"] for e in results[1:]} == {"success"}
    statuses = [r["status"] for r in route.batches()]
    assert statuses[0] == 404 and statuses[-1] == 200 and statuses.count(200) >= 2
    assert route.gets()  # single GETs while the route was missing
    logged = capsys.readouterr().out  # Airflow's structlog writes to stdout here
    assert logged.count("one GET each") == 1  # said once, when falling back
    assert TEST_API_KEY not in logged


async def test_batching_off_uses_single_gets(route, clean_emulator, monkeypatch):
    monkeypatch.setattr(batch, "BATCH_POLLING", False)
    ids = submit(3, clean_emulator, job_seconds=0.6)
    events = await events_of([trigger(task_id) for task_id in ids])
    assert {e["status"] for e in events} == {"success"}
    assert route.batches() == [] and len(route.gets()) >= 3


# ---- isolation --------------------------------------------------------------------------------------------


async def test_cancelled_triggers_leave_the_others_undisturbed(route, clean_emulator):
    # Jobs long enough that none ends before the cancellation, also on a loaded machine (submitting 40
    # can take seconds there).
    ids = submit(40, clean_emulator, job_seconds=4.0)
    tasks = [asyncio.ensure_future(event_of(trigger(task_id))) for task_id in ids]
    await asyncio.sleep(0.9)  # registered, some observations made
    for task in tasks[::2]:
        task.cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in done[::2])
    assert [e["status"] for e in done[1::2]] == ["success"] * 20
    assert pollers_idle()


async def test_a_batch_whose_triggers_are_all_cancelled_is_cancelled(route, clean_emulator):
    ids = submit(3, clean_emulator, job_seconds=5)
    clean_emulator.faults.delay(3.0, method="POST", path="/v1/tasks/batch")
    tasks = [asyncio.ensure_future(event_of(trigger(task_id))) for task_id in ids]
    await asyncio.sleep(batch.FIRST_POLL_WINDOW + 0.3)  # the first batch is in flight, held by the delay
    table = batch._POLLERS[asyncio.get_running_loop()]
    (poller,) = [p for p in table.values() if p._sending]
    (sending,) = poller._sending
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0)
    assert sending.cancelled()
    assert pollers_idle()


async def test_a_trigger_rebuilt_in_another_event_loop_works_there(route, clean_emulator):
    ids = submit(6, clean_emulator, job_seconds=1.0)
    elsewhere: list[dict[str, Any]] = []
    original = trigger(ids[0])
    _, kwargs = original.serialize()

    def other_triggerer() -> None:  # its own thread and loop, as a second triggerer would have
        elsewhere.append(asyncio.run(event_of(EvolinkVideoTrigger(**kwargs))))

    thread = threading.Thread(target=other_triggerer)
    thread.start()
    events = await events_of([original] + [trigger(t) for t in ids[1:]])
    await asyncio.to_thread(thread.join, 30)
    assert {e["status"] for e in events} == {"success"}
    assert elsewhere == [events[0]]


async def test_the_key_never_appears_in_logs(route, clean_emulator, capsys):
    ids = submit(3, clean_emulator, job_seconds=0.6)
    clean_emulator.faults.http_status(503, method="POST", path="/v1/tasks/batch", count=2)
    clean_emulator.faults.http_status(404, method="POST", path="/v1/tasks/batch", count=1)
    events = await events_of([trigger(task_id) for task_id in ids])
    assert {e["status"] for e in events} == {"success"}
    logged = capsys.readouterr()
    assert "retrying" in logged.out and "one GET each" in logged.out
    assert TEST_API_KEY not in logged.out + logged.err


@pytest.mark.parametrize("status", [403, 500, 501])
async def test_a_batch_route_that_never_answered_falls_back_instead_of_failing(route, clean_emulator, status):
    # A gateway without the route may refuse it in any way; until the route has answered once, its
    # failures send the triggers to single GETs, which say what is really wrong (here: nothing).
    ids = submit(3, clean_emulator, job_seconds=0.6)
    clean_emulator.faults.http_status(status, method="POST", path="/v1/tasks/batch", count=100)
    events = await events_of([trigger(task_id) for task_id in ids])
    assert {e["status"] for e in events} == {"success"}
    assert route.gets()


async def test_a_task_that_looks_stuck_in_batch_answers_is_confirmed_with_its_own_get(
    route, clean_emulator, monkeypatch
):
    # Batch answers that never sync a task with its upstream provider (the emulator's "stale" switch)
    # would show it pending until the deadline; after STALE_SECONDS without a change, a GET reads it.
    monkeypatch.setattr(batch, "STALE_SECONDS", 0.6)
    route.set(stale=True)
    ids = submit(3, clean_emulator, job_seconds=0.5)
    events = await events_of([trigger(task_id, deadline=time.time() + 30) for task_id in ids])
    assert {e["status"] for e in events} == {"success"}
    assert {r["path"].rsplit("/", 1)[-1] for r in route.gets()} == set(ids)

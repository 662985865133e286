"""TaskBatchPoller without a network: which watches go out together, and how answers are read.

The end-to-end behaviour (real HTTP, retries, fallback, cancellation) is in tests/triggers/test_batch_polling.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from airflow_evolink.core.errors import EvolinkValidationError
from airflow_evolink.core.protocol import MAX_BATCH_TASKS, TASK_BATCH_PATH, batch_tasks_call
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.hooks.connection import EvolinkConnectionConfig
from airflow_evolink.triggers import batch
from airflow_evolink.triggers.batch import READ_ALONE, TaskBatchPoller, _items_by_id, _lacks_results

CONFIG = EvolinkConnectionConfig("c", "http://127.0.0.1:9", "sk-unit")
POLICY = RetryPolicy()
OTHER = RetryPolicy(max_attempts=2)


def step(data: Any) -> float:
    """A trigger's step that always asks for the next observation in a second."""
    return 1.0


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)

    def exception(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)


def ids(n: int, prefix: str = "t") -> list[str]:
    return [f"task-{prefix}-{i:04d}" for i in range(n)]


# ---- the protocol call ---------------------------------------------------------------------------------


def test_batch_call_is_an_unpaid_post_of_the_ids():
    call = batch_tasks_call(["task-a-0001", "task-a-0002"])
    assert (call.method, call.path, call.paid, call.idempotency_key) == ("POST", TASK_BATCH_PATH, False, None)
    assert call.body_bytes() == b'{"task_ids":["task-a-0001","task-a-0002"]}'
    assert call.headers("k")["Content-Type"] == "application/json"


@pytest.mark.parametrize("task_ids", [[], ids(MAX_BATCH_TASKS + 1), ["bad id/.."]])
def test_batch_call_refuses_bad_id_lists(task_ids):
    with pytest.raises(EvolinkValidationError):
        batch_tasks_call(task_ids)


# ---- reading the answer ----------------------------------------------------------------------------------


def test_items_are_found_by_id_and_odd_answers_are_none():
    a = {"id": "task-a-0001", "status": "pending"}
    b = {"task_id": "task-a-0002", "status": "processing"}
    assert _items_by_id({"data": [a, b, "x", {"status": "completed"}]}) == {
        "task-a-0001": a,
        "task-a-0002": b,
    }
    for odd in ({"data": {"id": "x"}}, {"tasks": []}, [a], None, "data"):
        assert _items_by_id(odd) is None


@pytest.mark.parametrize(
    ("item", "lacks"),
    [
        ({"id": "task-a-0001", "status": "processing"}, False),
        ({"id": "task-a-0001", "status": "completed", "results": ["https://x/v.mp4"]}, False),
        (
            {"id": "task-a-0001", "status": "completed", "result_data": [{"video_url": "https://x/v.mp4"}]},
            False,
        ),
        ({"id": "task-a-0001", "status": "completed"}, True),
        ({"id": "task-a-0001", "status": "completed", "results": []}, True),
        ({"id": "task-a-0001", "status": "failed", "error": {"code": "service_error"}}, True),
        ({"id": "task-a-0001", "status": "cancelled"}, True),
    ],
)
def test_a_terminal_item_without_results_is_read_alone(item, lacks):
    assert _lacks_results(item) is lacks


# ---- which watches go out together -----------------------------------------------------------------


@pytest.fixture
def sent(monkeypatch) -> list[tuple[list[str], RetryPolicy]]:
    """Batches the poller dispatches, instead of sending them."""
    out: list[tuple[list[str], RetryPolicy]] = []

    def dispatch(self, loop, watches, policy) -> None:
        out.append(([r.task_id for r in watches], policy))

    monkeypatch.setattr(TaskBatchPoller, "_dispatch", dispatch)
    return out


async def test_due_watches_go_out_fifty_to_a_request(sent):
    poller = TaskBatchPoller(CONFIG, Log())
    for task_id in ids(120):
        poller.watch(task_id, POLICY, step, 0.0)
    await asyncio.sleep(0.01)
    assert [len(batch_ids) for batch_ids, _ in sent] == [50, 50, 20]
    assert [i for batch_ids, _ in sent for i in batch_ids] == ids(120)  # in the order they were due
    assert poller.waiting == 0 and poller._timer is None


async def test_a_batch_is_topped_up_with_waits_that_may_end_a_little_early(sent):
    poller = TaskBatchPoller(CONFIG, Log())
    poller.watch("task-due-0000", POLICY, step, 0.0)
    # 10 s waits may come up to EARLY_SHARE * 10 = 2 s early: 1 s from due, they join; 3 s away, not.
    for task_id in ids(60, "soon"):
        poller.watch(task_id, POLICY, step, 10.0)
    loop = asyncio.get_running_loop()
    for _, _, watch in poller._heap:
        if watch.task_id.startswith("task-soon"):
            watch.earliest = loop.time() - 1.0
    poller.watch("task-late-0000", POLICY, step, 10.0)
    await asyncio.sleep(0.01)
    assert len(sent) == 1
    batch_ids, _ = sent[0]
    assert batch_ids[0] == "task-due-0000" and len(batch_ids) == MAX_BATCH_TASKS
    assert poller.waiting == 61 - (MAX_BATCH_TASKS - 1)  # the rest and the late one wait for their time
    for _, _, watch in poller._heap:
        watch.future.cancel()
        poller.forget(watch)


async def test_early_share_of_a_wait(sent):
    poller = TaskBatchPoller(CONFIG, Log())
    loop = asyncio.get_running_loop()
    before = loop.time()
    watch = poller.watch("task-a-0001", POLICY, step, 10.0)
    due = poller._heap[0][0]
    assert 10.0 <= due - before < 10.1
    assert watch.earliest == pytest.approx(due - batch.EARLY_SHARE * 10.0)
    first = poller.watch("task-a-0002", POLICY, step, 5.0, first=True)
    assert first.earliest <= loop.time() and poller._heap[0][0] - before <= batch.FIRST_POLL_WINDOW + 0.1
    for r in (watch, first):
        r.future.cancel()
        poller.forget(r)
    assert poller.waiting == 0 and poller._timer is None


async def test_different_policies_never_share_a_request(sent):
    poller = TaskBatchPoller(CONFIG, Log())
    for n, task_id in enumerate(ids(6)):
        poller.watch(task_id, POLICY if n % 2 else OTHER, step, 0.0)
    await asyncio.sleep(0.01)
    assert sorted((len(b), p.max_attempts) for b, p in sent) == [(3, 2), (3, 6)]


async def test_cancelled_watches_are_skipped_and_dropped(sent):
    poller = TaskBatchPoller(CONFIG, Log())
    watches = [poller.watch(task_id, POLICY, step, 0.05) for task_id in ids(10)]
    for watch in watches[:4]:
        watch.future.cancel()
        poller.forget(watch)
    assert poller.waiting == 6
    await asyncio.sleep(0.1)
    assert sent == [(ids(10)[4:], POLICY)]
    for watch in watches[4:]:
        watch.future.cancel()
        poller.forget(watch)
    assert poller._heap == [] and poller._timer is None


async def test_an_ended_watch_is_not_counted_as_dead():
    poller = TaskBatchPoller(CONFIG, Log())
    watch = poller.watch("task-a-0001", POLICY, step, 100.0)
    poller._heap.clear()  # as _fire pops it
    watch.future.set_result(READ_ALONE)
    poller.forget(watch)  # the trigger was cancelled after its answer came
    assert poller._dead == 0
    poller._timer.cancel()


async def test_an_answer_of_the_wrong_shape_falls_back_to_single_gets(monkeypatch):
    async def answer(*args: Any, **kwargs: Any) -> Any:
        return {"tasks": []}

    monkeypatch.setattr(batch, "send_with_retries", answer)
    log = Log()
    poller = TaskBatchPoller(CONFIG, log)
    watches = [poller.watch(task_id, POLICY, step, 0.0) for task_id in ids(3)]
    results = await asyncio.gather(*(r.future for r in watches))
    assert results == [READ_ALONE] * 3
    assert not poller.batching
    assert len(log.lines) == 1 and "one GET each" in log.lines[0] and "sk-unit" not in log.lines[0]
    # While it falls back, due watches are answered READ_ALONE without a request.
    monkeypatch.setattr(batch, "send_with_retries", None)
    late = poller.watch("task-a-0009", POLICY, step, 0.0)
    assert await late.future is READ_ALONE


async def test_an_unexpected_bug_reads_the_tasks_alone(monkeypatch):
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(batch, "send_with_retries", broken)
    log = Log()
    poller = TaskBatchPoller(CONFIG, log)
    watch = poller.watch("task-a-0001", POLICY, step, 0.0)
    assert await watch.future is READ_ALONE
    assert poller.batching  # a bug is not a missing route
    assert "unexpectedly" in log.lines[0]


async def test_one_poller_per_loop_and_connection():
    log = Log()
    first = batch.poller_for(CONFIG, log)
    assert batch.poller_for(CONFIG, log) is first
    other = EvolinkConnectionConfig("c", "http://127.0.0.1:9", "sk-other")
    assert batch.poller_for(other, log) is not first

    def in_another_loop() -> TaskBatchPoller:
        async def get() -> TaskBatchPoller:
            return batch.poller_for(CONFIG, log)

        return asyncio.run(get())

    assert await asyncio.to_thread(in_another_loop) is not first


async def test_steps_run_in_the_poller_and_a_broken_step_ends_only_its_trigger(monkeypatch):
    answers: list[list[str]] = []

    async def answer(session, config, call, policy, log, prepared) -> Any:
        asked = call.json_body["task_ids"]
        answers.append(asked)
        return {"data": [{"id": task_id, "status": "processing", "progress": 50} for task_id in asked]}

    monkeypatch.setattr(batch, "send_with_retries", answer)
    seen: dict[str, int] = {}

    def counting(task_id: str) -> Any:
        def step(data: Any) -> Any:
            seen[task_id] = seen.get(task_id, 0) + 1
            if task_id == "task-bad-0000":
                raise ZeroDivisionError("a bug in one trigger")
            return 0.01 if seen[task_id] < 3 else {"status": "success", "evolink_task_id": task_id}

        return step

    poller = TaskBatchPoller(CONFIG, Log())
    good = [poller.watch(t, POLICY, counting(t), 0.0) for t in ids(3)]
    bad = poller.watch("task-bad-0000", POLICY, counting("task-bad-0000"), 0.0)
    events = await asyncio.gather(*(w.future for w in good))
    assert [e["evolink_task_id"] for e in events] == ids(3)
    assert seen == {**dict.fromkeys(ids(3), 3), "task-bad-0000": 1}
    with pytest.raises(ZeroDivisionError):
        await bad.future
    assert answers[0] == [*ids(3), "task-bad-0000"] and answers[1:] == [ids(3), ids(3)]
    assert poller.waiting == 0 and poller._timer is None


async def test_a_step_runs_in_the_context_of_its_trigger(monkeypatch):
    import contextvars

    trigger_id: contextvars.ContextVar[str] = contextvars.ContextVar("trigger_id", default="none")

    async def answer(session, config, call, policy, log, prepared) -> Any:
        return {"data": [{"id": t, "status": "processing"} for t in call.json_body["task_ids"]]}

    monkeypatch.setattr(batch, "send_with_retries", answer)
    poller = TaskBatchPoller(CONFIG, Log())

    async def one(name: str) -> str:
        trigger_id.set(name)
        watch = poller.watch(f"task-{name}-0000", POLICY, lambda data: {"in": trigger_id.get()}, 0.0)
        return (await watch.future)["in"]

    assert await asyncio.gather(one("a"), one("b")) == ["a", "b"]


async def test_an_answer_that_cannot_be_read_leaves_no_trigger_stranded(monkeypatch):
    async def answer(session, config, call, policy, log, prepared) -> Any:
        return {"data": [{"id": t, "status": "processing"} for t in call.json_body["task_ids"]]}

    def broken(item: Any) -> bool:
        if item["id"] == "task-t-0001":
            raise RuntimeError("a bug while reading the second item")
        return False

    monkeypatch.setattr(batch, "send_with_retries", answer)
    monkeypatch.setattr(batch, "_lacks_results", broken)
    log = Log()
    poller = TaskBatchPoller(CONFIG, log)
    watches = [poller.watch(t, POLICY, step, 0.0) for t in ids(3)]
    await asyncio.sleep(0.05)
    # The first was read and queued again; the other two read their tasks alone.
    assert not watches[0].future.done() and poller.waiting == 1
    assert [await w.future for w in watches[1:]] == [READ_ALONE, READ_ALONE]
    assert "could not be read" in log.lines[0]
    watches[0].future.cancel()
    poller.forget(watches[0])
    assert poller.waiting == 0 and poller._dead == 0

"""The Idempotency-Key a task instance sends: stable across its tries, new when its request changes."""

from __future__ import annotations

from types import SimpleNamespace

from airflow_evolink.core.protocol import check_idempotency_key
from airflow_evolink.operators.evolink import idempotency_key_for


def context(run_id: str = "manual__1", map_index: int = -1) -> dict[str, object]:
    return {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id=run_id, map_index=map_index)}


BODY = {"model": "kling-v3-text-to-video", "prompt": "a cat"}


def test_every_try_of_one_request_sends_the_same_valid_key():
    key = idempotency_key_for(context(), body=BODY)
    assert key == idempotency_key_for(context(), body=dict(reversed(list(BODY.items()))))
    assert check_idempotency_key(key) == key and len(key) == 48


def test_a_changed_request_gets_a_new_key_so_the_ledger_does_not_answer_conflict():
    # A task cleared after its prompt was edited would otherwise meet idempotency_conflict for good.
    assert idempotency_key_for(context(), body=BODY) != idempotency_key_for(
        context(), body={**BODY, "prompt": "a dog"}
    )


def test_other_task_instances_and_a_paid_retry_get_their_own_keys():
    keys = {
        idempotency_key_for(context(), body=BODY),
        idempotency_key_for(context(run_id="manual__2"), body=BODY),
        idempotency_key_for(context(map_index=3), body=BODY),
        idempotency_key_for(context(), previous_task_id="task-unified-1-abcdefgh", body=BODY),
    }
    assert len(keys) == 4

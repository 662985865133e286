"""The real API's behaviour, met in real Airflow (``dag.test()``) against the emulator.

Each test reproduces one way Evolink's gateway behaves that a reading of the public doc page alone
missed: a paid POST whose answer is lost after the job was created, a status the docs do not list, a
key whose own figure is not what the account can spend, and requests the API accepts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_evolink.utils import xcom_keys
from tests.airflow_helpers import dag_bag, xcom_values
from tests.dags.evolink_semantics import SPEC_REQUESTS

pytestmark = pytest.mark.usefixtures("airflow_db")

TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"
#: Seconds a generation takes where its length is not what the test is about (the emulator's default is 3).
SHORT_JOB = 0.5
# The DAG and the id of the task that submits in it.
SUBMITTING_DAGS = {
    "sem_sensor_deferred": "submit",
    "sem_sensor_poke": "submit",
    "sem_wait_sync": "generate",
    "sem_wait_deferred": "generate",
}


def run_dag(dag_id: str) -> Any:
    return dag_bag(TEST_DAGS).get_dag(dag_id).test()


def posts(emulator: Any) -> list[dict[str, Any]]:
    """The paid POSTs (batch reads in the triggerer are POSTs too)."""
    return [
        r
        for r in emulator.state.requests()
        if r["method"] == "POST" and r["path"] == "/v1/videos/generations"
    ]


def task_reads(emulator: Any) -> list[dict[str, Any]]:
    """Reads of a task: single GETs and batch reads."""
    return [r for r in emulator.state.requests() if r["path"].startswith("/v1/tasks/")]


#: The sensor DAGs submit with the same task; only the deferred sensor's wait differs, and the trigger's
#: wait is proven with the deferred operator (``sem_wait_deferred``).
ONE_PER_WAIT = sorted(set(SUBMITTING_DAGS) - {"sem_sensor_deferred"})


@pytest.mark.parametrize("dag_id", ONE_PER_WAIT)
def test_a_502_after_the_job_was_created_ends_green_with_one_job(clean_emulator, dag_id):
    clean_emulator.faults.fail_after_create(502)
    clean_emulator.faults.next_jobs_seconds(SHORT_JOB)
    dag_run = run_dag(dag_id)
    assert dag_run.state == "success"
    # Jobs created, not POSTs: the second send carried the same key and was answered from the ledger.
    assert len(clean_emulator.state.tasks()) == 1
    first, second = posts(clean_emulator)
    assert first["status"] == 502 and first["task_created"]
    assert second["status"] == 200 and second["replay"] and not second["task_created"]
    assert first["idempotency_key"] == second["idempotency_key"]
    submit = SUBMITTING_DAGS[dag_id]
    [task] = xcom_values(dag_run, submit, xcom_keys.EVOLINK_TASK)
    assert task["id"] == clean_emulator.state.tasks()[0]["id"]
    if dag_id.startswith("sem_sensor"):
        # The submit task's record is the POST's answer; the sensor then writes the finished task.
        assert task["idempotency_replayed"] is True
    assert xcom_values(dag_run, submit) == [task["id"]]
    assert xcom_values(dag_run, submit, xcom_keys.IDEMPOTENCY_REPLAYED) == [True]


def test_a_first_answer_is_not_marked_as_a_replay(clean_emulator):
    dag_run = run_dag("sem_submit_only")
    assert dag_run.state == "success"
    assert xcom_values(dag_run, "generate", xcom_keys.IDEMPOTENCY_REPLAYED) == []
    [task] = xcom_values(dag_run, "generate", xcom_keys.EVOLINK_TASK)
    assert task["idempotency_replayed"] is False


@pytest.mark.parametrize("dag_id", ONE_PER_WAIT)
def test_an_unlisted_interim_status_is_waited_through(clean_emulator, dag_id):
    clean_emulator.faults.interim_status(share=0.6, status="in_queue")
    dag_run = run_dag(dag_id)
    assert dag_run.state == "success"
    assert task_reads(clean_emulator), "the task was never polled"
    assert len(clean_emulator.state.tasks()) == 1


def test_min_credits_is_checked_against_what_the_account_can_spend(clean_emulator):
    # The get-credits page's example: an unlimited key (its own figure 99,416) on an account of 1,095.
    clean_emulator.state.set_credits(user=1095.3996, token=99416.4429, unlimited=True)
    dag_run = run_dag("sem_budget")  # min_credits=5000
    assert dag_run.state == "failed"
    assert posts(clean_emulator) == []
    # The price is read first (public catalog route, no key), then the balance, then nothing is paid.
    paths = [r["path"] for r in clean_emulator.state.requests() if not r["path"].startswith("/v1/catalog/")]
    assert paths == ["/v1/credits"]


def test_a_limited_key_below_min_credits_is_refused_too(clean_emulator):
    clean_emulator.state.set_credits(user=1_000_000, token=100, unlimited=False)
    dag_run = run_dag("sem_budget")
    assert dag_run.state == "failed"
    assert posts(clean_emulator) == []


def test_requests_the_api_accepts_reach_it_with_exactly_the_fields_given(clean_emulator):
    dag_run = run_dag("sem_spec_requests")
    assert dag_run.state == "success"
    received = {r["body"]["model"] + "|" + str(r["body"].get("quality")): r for r in posts(clean_emulator)}
    assert len(received) == len(SPEC_REQUESTS)
    for fields in SPEC_REQUESTS.values():
        record = received[fields["model"] + "|" + str(fields.get("quality"))]
        assert record["status"] == 200 and record["task_created"]
        assert record["body"] == fields

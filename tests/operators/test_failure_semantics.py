"""The operator and sensor in real Airflow (``dag.test()``): what fails, what retries, what is paid.

The DAGs live in tests/dags/evolink_semantics.py; each test sets up the emulator, runs one DAG, and
counts the paid POSTs the emulator saw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_evolink.core.money import format_known_credits
from airflow_evolink.utils import xcom_keys
from tests.airflow_helpers import dag_bag, xcom_values
from tests.conftest import FAST_RETRIES

pytestmark = pytest.mark.usefixtures("airflow_db")

TEST_DAGS = Path(__file__).resolve().parents[1] / "dags"
#: Seconds a generation takes where its length is not what the test is about (the emulator's default is 3).
SHORT_JOB = 0.5


def run_dag(dag_id: str) -> Any:
    return dag_bag(TEST_DAGS).get_dag(dag_id).test()


def paid_posts(emulator: Any) -> list[dict[str, Any]]:
    return [r for r in emulator.state.requests() if r["method"] == "POST" and r["task_created"]]


def tries(dag_run: Any, task_id: str = "generate") -> int:
    return int(dag_run.get_task_instance(task_id).try_number)


def test_non_retryable_remote_failure_fails_once_without_airflow_retries(clean_emulator):
    clean_emulator.faults.fail_next_jobs(
        "content_policy_violation", "blocked by the safety filter", job_seconds=SHORT_JOB
    )
    dag_run = run_dag("sem_wait_sync")
    assert dag_run.state == "failed"
    assert tries(dag_run) == 1
    assert len(paid_posts(clean_emulator)) == 1


def test_retryable_remote_failure_is_retried_by_airflow_with_a_new_key(clean_emulator):
    clean_emulator.faults.fail_next_jobs("service_error", "internal error", job_seconds=SHORT_JOB)
    clean_emulator.faults.next_jobs_seconds(SHORT_JOB)
    dag_run = run_dag("sem_wait_sync_retry_once")
    assert dag_run.state == "success"
    assert tries(dag_run) == 2
    posts = paid_posts(clean_emulator)
    assert len(posts) == 2
    assert posts[0]["idempotency_key"] != posts[1]["idempotency_key"]


def test_deferrable_submit_and_wait_failure_is_not_retried(clean_emulator):
    clean_emulator.faults.fail_next_jobs(
        "image_processing_error", "could not read the image", job_seconds=SHORT_JOB
    )
    dag_run = run_dag("sem_wait_deferred")
    assert dag_run.state == "failed"
    assert tries(dag_run) == 1
    assert len(paid_posts(clean_emulator)) == 1
    # The reservation came back: the failed generation cost nothing, and XCom says so.
    assert xcom_values(dag_run, "generate", xcom_keys.CREDITS_USED) == [0]
    assert clean_emulator.state.credits()["data"]["user"]["used_credits"] == 0


@pytest.mark.parametrize("dag_id", ["sem_wait_deferred", "sem_wait_sync"])
def test_the_last_log_line_says_what_the_generation_cost(clean_emulator, dag_id, capfd):
    clean_emulator.faults.next_jobs_seconds(SHORT_JOB)
    dag_run = run_dag(dag_id)
    assert dag_run.state == "success"
    billed = clean_emulator.state.credits()["data"]["user"]["used_credits"]
    [task] = xcom_values(dag_run, "generate", xcom_keys.EVOLINK_TASK)
    # The operator's own lines in the task log (Airflow's own lines about XCom and state follow them).
    # The operator's own lines speak of "Evolink task ..." (Airflow's lines about XCom and state follow).
    ours = [line for line in capfd.readouterr().out.splitlines() if "Evolink task" in line]
    assert ours
    # A charge is in credits, a unit the API states, so its dollar figure is shown too.
    assert f"Cost of Evolink task {task['id']}: {format_known_credits(billed)} charged" in ours[-1]


def test_an_outcome_still_unknown_after_resends_is_settled_by_airflows_retry(clean_emulator):
    # Every send of the first try (two: the DAG's connection's extra ``retry``) is answered 502 after the
    # job was made; Airflow's second try presents the same Idempotency-Key and gets that job back from the
    # ledger: one job, a green run.
    sends = FAST_RETRIES["paid_max_attempts"]
    clean_emulator.faults.http_status(502, method="POST", after_processing=True, count=sends)
    dag_run = run_dag("sem_submit_only")
    assert dag_run.state == "success"
    assert tries(dag_run) == 2
    posts = [r for r in clean_emulator.state.requests() if r["method"] == "POST"]
    assert len(posts) == sends + 1 and len({r["idempotency_key"] for r in posts}) == 1
    assert len(clean_emulator.state.tasks()) == 1
    assert posts[-1]["replay"] and posts[-1]["status"] == 200


def test_bad_templated_input_fails_before_any_request(clean_emulator):
    dag_run = run_dag("sem_bad_template")
    assert dag_run.state == "failed"
    assert tries(dag_run) == 1
    assert clean_emulator.state.requests() == []


def test_budget_guard_allows_submission_above_threshold(clean_emulator):
    dag_run = run_dag("sem_budget")
    assert dag_run.state == "success"
    assert len(paid_posts(clean_emulator)) == 1


@pytest.mark.parametrize("dag_id", ["sem_sensor_poke", "sem_sensor_deferred"])
@pytest.mark.parametrize("odd_state", ["cancelled", "completed-without-results"])
def test_sensor_fails_clearly_on_odd_terminal_states(clean_emulator, dag_id, odd_state):
    if odd_state == "completed-without-results":
        clean_emulator.faults.complete_without_results(job_seconds=SHORT_JOB)
    else:
        clean_emulator.faults.next_jobs_status(odd_state, job_seconds=SHORT_JOB)
    dag_run = run_dag(dag_id)
    assert dag_run.state == "failed"
    assert tries(dag_run, "wait") == 1
    assert len(paid_posts(clean_emulator)) == 1


@pytest.mark.parametrize("dag_id", ["sem_sensor_poke_short", "sem_sensor_deferred_short"])
def test_a_status_that_never_ends_is_bounded_by_the_timeout(clean_emulator, dag_id):
    # An unlisted status is still running: the sensor polls on, and its timeout ends the wait.
    clean_emulator.faults.next_jobs_status("brand_new_status", job_seconds=0.5)
    dag_run = run_dag(dag_id)
    assert dag_run.state == "failed"
    reads = [r for r in clean_emulator.state.requests() if r["path"].startswith("/v1/tasks/")]
    assert len(reads) >= 3
    assert len(paid_posts(clean_emulator)) == 1

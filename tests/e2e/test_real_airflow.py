"""The example DAG in real Airflow components on 127.0.0.1, with the triggerer killed mid-wait.

api-server, scheduler (LocalExecutor), dag-processor and triggerer run as separate processes on a
PostgreSQL metadata DB; the emulator runs as its own process (the session's shared cluster, which the
browser tests use too). The sensor must be seen ``deferred``, the triggerer is then SIGKILLed, a new one
takes the trigger over, and the run still succeeds with one paid POST.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from tests.e2e.cluster import SHARED_SECRET_KEY as SECRET_KEY
from tests.e2e.cluster import AirflowCluster, PostgresDatabase, SharedCluster, wait_for

DAG_ID = "example_evolink_image_to_video"
#: Long enough to see the sensor deferred and kill the triggerer (or the worker) while the job runs.
LONG_JOB_SECONDS = 25


@pytest.fixture(scope="module")
def emulator_url(shared_cluster: SharedCluster) -> str:
    return shared_cluster.emulator


@pytest.fixture(scope="module")
def cluster(shared_cluster: SharedCluster) -> AirflowCluster:
    airflow = shared_cluster.airflow
    airflow.database = shared_cluster.database  # type: ignore[attr-defined]
    return airflow


def long_next_job(shared_cluster: SharedCluster) -> None:
    """A fresh emulator (no jobs or stats of earlier modules) whose next job takes LONG_JOB_SECONDS."""
    shared_cluster.emulator_control("POST", "reset")
    shared_cluster.emulator_control("POST", "jobs", {"job_seconds": LONG_JOB_SECONDS, "count": 1})


def test_deferred_sensor_survives_a_triggerer_sigkill(
    cluster: AirflowCluster, emulator_url: str, shared_cluster: SharedCluster
):
    long_next_job(shared_cluster)
    started = time.monotonic()
    # Two triggerers, as in an HA deployment; the one that owns the trigger is then killed.
    database: PostgresDatabase = cluster.database  # type: ignore[attr-defined]
    cluster.start("triggerer-2", "triggerer", "--skip-serve-logs")
    wait_for(
        lambda: database.query("SELECT count(*) FROM job WHERE job_type = 'TriggererJob'")[0][0] == 2,
        60,
        "the second triggerer",
    )
    run_id = f"e2e_{int(time.time())}"
    cluster.trigger(DAG_ID, run_id)

    wait_for(
        lambda: cluster.task_state(DAG_ID, run_id, "wait_for_video") == "deferred", 120, "the sensor to defer"
    )
    deferred_at = time.monotonic()
    # The trigger row must be owned by the running triggerer before we kill it.
    wait_for(
        lambda: database.query("SELECT triggerer_id FROM trigger WHERE triggerer_id IS NOT NULL"),
        60,
        "the triggerer to pick up the trigger",
    )
    [(trigger_id, old_triggerer)] = database.query("SELECT id, triggerer_id FROM trigger")
    owner = _component_running_job(cluster, database, old_triggerer)

    cluster.kill(owner)
    killed_at = time.monotonic()
    assert cluster.task_state(DAG_ID, run_id, "wait_for_video") == "deferred"
    cluster.start(owner, "triggerer", "--skip-serve-logs")

    wait_for(lambda: cluster.run_state(DAG_ID, run_id) in ("success", "failed"), 240, "the run to finish")
    finished_at = time.monotonic()
    assert cluster.run_state(DAG_ID, run_id) == "success", cluster.log_text("scheduler")[-3000:]

    urls = cluster.xcom(DAG_ID, run_id, "wait_for_video")
    task_id = cluster.xcom(DAG_ID, run_id, "submit_video")
    assert urls == [f"{emulator_url}/files/{task_id}.mp4"]
    assert cluster.task_state(DAG_ID, run_id, "use_videos") == "success"

    # Another triggerer job finished the same trigger row (same kwargs, so the same deadline); one POST.
    jobs = database.query("SELECT id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")
    assert len(jobs) >= 3 and old_triggerer in {row[0] for row in jobs}
    [(trigger_used,)] = database.query(
        "SELECT trigger_id FROM task_instance WHERE dag_id = %s AND run_id = %s AND task_id = 'wait_for_video'",
        DAG_ID,
        run_id,
    ) or [(None,)]
    assert trigger_used in (None, trigger_id)  # cleared on completion, never replaced by a new trigger
    assert database.query("SELECT count(*) FROM trigger")[0][0] == 0
    stats = requests.get(f"{emulator_url}/_emulator/stats", timeout=5).json()
    assert stats["tasks_created"] == 1

    # The trigger's progress lines reach this task instance's log, not just the triggerer's own.
    task_logs = cluster.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=wait_for_video"
    trigger_text = "".join(path.read_text(errors="replace") for path in task_logs.glob("*.trigger.*.log"))
    assert f"Evolink task {task_id} is " in trigger_text, sorted(p.name for p in task_logs.rglob("*"))

    print(
        f"\ne2e timings: deferred after {deferred_at - started:.1f} s, triggerer killed at "
        f"{killed_at - started:.1f} s, run succeeded at {finished_at - started:.1f} s"
    )


def _task_process(ti_id: str) -> int | None:
    """The PID of the process running this task instance (its title is ``airflow worker -- <ti id>``)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if f"airflow worker -- {ti_id}" in cmdline:
            return int(entry.name)
    return None


def test_worker_killed_after_submit_reconnects_instead_of_paying_again(
    cluster: AirflowCluster, emulator_url: str, shared_cluster: SharedCluster
):
    dag_id, run_id = "sem_resumable", f"resumable_{int(time.time())}"
    long_next_job(shared_cluster)
    cluster.trigger(dag_id, run_id)

    def stats() -> dict:
        return requests.get(f"{emulator_url}/_emulator/stats", timeout=5).json()

    wait_for(lambda: stats()["tasks_created"] == 1, 120, "the paid POST")
    # The first poll comes after the task id is persisted: kill the worker while it waits.
    wait_for(lambda: stats()["by_route"].get("GET /v1/tasks/{task_id}", 0) >= 1, 60, "the first poll")
    ti = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/generate")
    pid = wait_for(lambda: _task_process(ti["id"]), 30, "the task's worker process")
    os.kill(pid, signal.SIGKILL)

    wait_for(lambda: cluster.run_state(dag_id, run_id) in ("success", "failed"), 240, "the run to finish")
    ti = cluster.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/generate")
    assert cluster.run_state(dag_id, run_id) == "success"
    assert ti["try_number"] == 2
    final = stats()
    assert final["tasks_created"] == 1
    assert final["by_route"].get("POST /v1/videos/generations") == 1
    log = (
        cluster.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=generate" / "attempt=2.log"
    )
    assert "Reconnected to Evolink task" in log.read_text()
    # The reconnecting try returns the task id too (Airflow's mixin returns None on that path).
    [task] = requests.get(f"{emulator_url}/_emulator/tasks", timeout=5).json()["tasks"]
    assert cluster.xcom(dag_id, run_id, "generate") == task["id"]


def _component_running_job(cluster: AirflowCluster, database: PostgresDatabase, job_id: int) -> str:
    """Which of our two triggerers runs the job: they were started in order, so their jobs are too."""
    jobs = [
        row[0] for row in database.query("SELECT id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")
    ]
    assert len(jobs) == 2, jobs
    return "triggerer" if job_id == jobs[0] else "triggerer-2"


def test_the_api_key_appears_in_no_log_xcom_or_rendered_field(cluster: AirflowCluster):
    """Runs last in this module: every log file the cluster wrote at DEBUG, and the DB, are searched."""
    hits = [
        str(path)
        for path in cluster.home.rglob("*")
        if path.is_file() and SECRET_KEY.encode() in path.read_bytes()
    ]
    assert hits == []
    database: PostgresDatabase = cluster.database  # type: ignore[attr-defined]
    like = f"%{SECRET_KEY}%"
    assert database.query("SELECT count(*) FROM xcom WHERE value::text LIKE %s", like) == [(0,)]
    assert database.query(
        "SELECT count(*) FROM rendered_task_instance_fields WHERE rendered_fields::text LIKE %s", like
    ) == [(0,)]
    assert database.query("SELECT count(*) FROM log WHERE extra LIKE %s", like) == [(0,)]
    logs = list((cluster.home / "logs").rglob("*.log"))
    assert logs, "the runs wrote task logs"

"""The docker-compose topology (``docker/docker-compose.yaml``) as processes on 127.0.0.1, without Docker.

CeleryExecutor with Redis as the broker (one Redis db index of its own, flushed at the end) and the Celery
result backend on the PostgreSQL metadata DB; scheduler, dag-processor, api-server, triggerer and a Celery
worker as separate process groups; the Evolink emulator as its own process. Both example DAGs run at once:
every sensor must be seen ``deferred``, both runs must succeed, the result URLs are read from XCom through
the REST API, and the emulator must have been paid exactly once per video.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.cluster import AirflowCluster, PostgresDatabase, emulator_process, wait_for

pytest.importorskip(
    "airflow.providers.celery",
    reason="needs apache-airflow-providers-celery (celery, kombu, redis) for the CeleryExecutor",
)
redis = pytest.importorskip("redis")

IMAGE_DAG = "example_evolink_image_to_video"
BATCH_DAG = "example_evolink_batch"
BATCH_SIZE = 3  # the shots example_evolink_batch lists
POOL = "evolink_submissions"
# Celery tasks when nothing retries: image DAG 3 task instances + 1 sensor resume; batch DAG list_shots,
# 3 submits, 3 sensors + 3 resumes, summarize.
CELERY_WORKLOADS = 4 + 11
JOB_SECONDS = 20
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# High indexes that nothing else here uses by default (db 0 is everyone's default); the first empty one is taken.
REDIS_DB_CANDIDATES = (13, 12, 11, 10, 9)
CLAIM_KEY = "evolink-e2e:celery-topology"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer", "celery-worker")


@dataclass
class Topology:
    cluster: AirflowCluster
    database: PostgresDatabase
    emulator: str
    redis_db: int
    setup_started: float
    setup_seconds: float
    states: dict[str, set[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def setup_started() -> float:
    return time.monotonic()


@pytest.fixture(scope="module")
def redis_db() -> Iterator[int]:
    """Claim an empty Redis db index for the broker; flush that index (and only it) afterwards."""
    token = uuid.uuid4().hex
    for index in REDIS_DB_CANDIDATES:
        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=index, socket_timeout=5)
        if client.dbsize() == 0 and client.set(CLAIM_KEY, token, nx=True):
            break
        client.close()
    else:
        pytest.fail(f"no empty Redis db among {REDIS_DB_CANDIDATES} on {REDIS_HOST}:{REDIS_PORT}")
    try:
        yield index
    finally:
        if client.get(CLAIM_KEY) == token.encode():
            client.flushdb()
        client.close()


@pytest.fixture(scope="module")
def topology_emulator() -> Iterator[str]:
    with emulator_process(JOB_SECONDS) as url:
        yield url


@pytest.fixture(scope="module")
def topology(
    request: pytest.FixtureRequest, setup_started: float, redis_db: int, topology_emulator: str
) -> Iterator[Topology]:
    failed_before = request.session.testsfailed
    database = PostgresDatabase()
    database.create()
    home = Path(tempfile.mkdtemp(prefix="evolink-celery-e2e-"))
    connection = {"conn_type": "evolink", "host": topology_emulator, "password": "sk-e2e-celery-key"}
    cluster = AirflowCluster(
        home=home,
        db_url=database.url,
        executor="CeleryExecutor",
        extra_env={
            "AIRFLOW_CONN_EVOLINK_DEFAULT": json.dumps(connection),
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{redis_db}",
            # The driver is explicit: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, not psycopg2.
            "AIRFLOW__CELERY__RESULT_BACKEND": (
                f"db+postgresql+psycopg2://postgres@127.0.0.1:5432/{database.name}"
            ),
        },
    )
    try:
        cluster.start_all(COMPONENTS)
        # As airflow-init does in docker/docker-compose.yaml.
        cluster.airflow("pools", "set", POOL, "4", "Evolink submissions")
        setup_seconds = time.monotonic() - setup_started
        yield Topology(cluster, database, topology_emulator, redis_db, setup_started, setup_seconds)
    finally:
        stopping = time.monotonic()
        cluster.stop()
        print(f"celery topology stopped in {time.monotonic() - stopping:.1f} s")
        database.drop()
        if request.session.testsfailed == failed_before:
            shutil.rmtree(home, ignore_errors=True)  # kept, with the component logs, when the test failed


def _assert_alive(cluster: AirflowCluster) -> None:
    for name, process in cluster.processes.items():
        if process.poll() is not None:
            pytest.fail(f"{name} exited with {process.returncode}:\n{cluster.log_text(name)[-4000:]}")


def _watch(topology: Topology, runs: dict[str, str]) -> None:
    """Poll the REST API until every run is finished, recording each sensor's states on the way."""
    cluster = topology.cluster

    def record(key: str, state: str | None) -> None:
        topology.states.setdefault(key, set()).add(str(state))

    def finished() -> bool:
        _assert_alive(cluster)
        record("image", cluster.task_state(IMAGE_DAG, runs[IMAGE_DAG], "wait_for_video"))
        try:
            mapped = cluster.api(
                "GET", f"/dags/{BATCH_DAG}/dagRuns/{runs[BATCH_DAG]}/taskInstances/wait_for_video/listMapped"
            )["task_instances"]
        except requests.HTTPError as error:  # not expanded yet
            if error.response is None or error.response.status_code != 404:
                raise
            mapped = []
        for ti in mapped:
            record(f"batch[{ti['map_index']}]", ti["state"])
        return all(cluster.run_state(dag, run) in ("success", "failed") for dag, run in runs.items())

    wait_for(finished, 150, "both runs to finish", interval=0.5)


def test_celery_topology_runs_both_example_dags(topology: Topology) -> None:
    cluster, emulator = topology.cluster, topology.emulator

    # The pool airflow-init creates, and Celery really on Redis at our index.
    pool = cluster.api("GET", f"/pools/{POOL}")
    assert (pool["slots"], pool["description"]) == (4, "Evolink submissions")
    broker = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=topology.redis_db, socket_timeout=5)

    def worker_bound() -> list[bytes]:
        _assert_alive(cluster)
        return broker.keys("_kombu.binding.*")

    wait_for(worker_bound, 60, "the Celery worker to bind its queues in Redis")

    started = time.monotonic()
    runs = {IMAGE_DAG: f"celery_image_{int(time.time())}", BATCH_DAG: f"celery_batch_{int(time.time())}"}
    for dag_id, run_id in runs.items():
        cluster.trigger(dag_id, run_id)
    _watch(topology, runs)
    finished = time.monotonic()

    for dag_id, run_id in runs.items():
        assert cluster.run_state(dag_id, run_id) == "success", (
            f"{dag_id} did not succeed\n--- scheduler\n{cluster.log_text('scheduler')[-3000:]}"
            f"\n--- worker\n{cluster.log_text('celery-worker')[-3000:]}"
        )
    # Every sensor went through the triggerer.
    expected = {"image", *(f"batch[{i}]" for i in range(BATCH_SIZE))}
    assert set(topology.states) == expected, topology.states
    assert all("deferred" in seen for seen in topology.states.values()), topology.states

    # Result URLs from XCom through the REST API.
    image_task = cluster.xcom(IMAGE_DAG, runs[IMAGE_DAG], "submit_video")
    assert cluster.xcom(IMAGE_DAG, runs[IMAGE_DAG], "wait_for_video") == [
        f"{emulator}/files/{image_task}.mp4"
    ]
    assert cluster.xcom(IMAGE_DAG, runs[IMAGE_DAG], "use_videos") == 1

    def mapped_xcom(task_id: str, index: int) -> Any:
        path = f"/dags/{BATCH_DAG}/dagRuns/{runs[BATCH_DAG]}/taskInstances/{task_id}/xcomEntries/return_value"
        return cluster.api("GET", path, params={"deserialize": "true", "map_index": index})["value"]

    batch_tasks = [mapped_xcom("submit_video", i) for i in range(BATCH_SIZE)]
    for index, task_id in enumerate(batch_tasks):
        assert mapped_xcom("wait_for_video", index) == [f"{emulator}/files/{task_id}.mp4"]
    assert cluster.xcom(BATCH_DAG, runs[BATCH_DAG], "summarize") == {"videos": BATCH_SIZE}
    submits = cluster.api(
        "GET", f"/dags/{BATCH_DAG}/dagRuns/{runs[BATCH_DAG]}/taskInstances/submit_video/listMapped"
    )["task_instances"]
    # The batch example needs no pool created first: its cap is max_active_tis_per_dag.
    assert [ti["pool"] for ti in submits] == ["default_pool"] * BATCH_SIZE
    assert all(ti["state"] == "success" for ti in submits)

    # One paid POST per video, no more.
    videos = 1 + BATCH_SIZE
    assert len({image_task, *batch_tasks}) == videos
    stats = requests.get(f"{emulator}/_emulator/stats", timeout=5).json()
    assert stats["tasks_created"] == videos, stats
    assert stats["by_route"].get("POST /v1/videos/generations") == videos, stats

    # Every task instance ran on the Celery worker (each sensor twice: before deferring and on resume),
    # and the results went to the PostgreSQL result backend.
    # The last Celery task may still be returning when its task instance is already marked success.
    def celery_counts() -> tuple[int, int, int]:
        log = cluster.log_text("celery-worker")
        received = len(re.findall(r"Task execute_workload\[[^\]]+\] received", log))
        succeeded = len(re.findall(r"Task execute_workload\[[^\]]+\] succeeded", log))
        [(stored,)] = topology.database.query("SELECT count(*) FROM celery_taskmeta")
        return received, succeeded, int(stored)

    try:
        wait_for(
            lambda: len(set(celery_counts())) == 1, 30, "every Celery task to finish and store its result"
        )
    except TimeoutError:
        pytest.fail(f"Celery tasks (received, succeeded, stored): {celery_counts()}")
    received, _, _ = celery_counts()
    assert received >= CELERY_WORKLOADS, cluster.log_text("celery-worker")[-3000:]

    total = time.monotonic() - topology.setup_started
    seen = ", ".join(f"{key}={sorted(states)}" for key, states in sorted(topology.states.items()))
    print(
        f"\ncelery topology wall time: {total:.1f} s (setup {topology.setup_seconds:.1f} s, trigger to both "
        f"runs finished {finished - started:.1f} s); redis db {topology.redis_db}; "
        f"{received} Celery tasks; sensor states seen: {seen}"
    )

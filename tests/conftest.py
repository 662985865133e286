"""Test setup: an isolated Airflow home, the emulator on 127.0.0.1, and the metadata DB once per process.

Airflow reads its configuration when first imported, so the environment is set here, at import time,
before any test module imports Airflow.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
_HOME = Path(tempfile.mkdtemp(prefix="evolink-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(REPO / "dags")
# Two bundles: the example DAGs users see, and small DAGs that pin one behaviour each for the tests.
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {
            "name": name,
            "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
            "kwargs": {"path": str(path), "refresh_interval": 0},
        }
        for name, path in (("example-dags", REPO / "dags"), ("test-dags", REPO / "tests" / "dags"))
    ]
)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
os.environ.pop("AIRFLOW_CONN_EVOLINK_DEFAULT", None)

from airflow_evolink.emulator import EmulatorConfig, EmulatorServer  # noqa: E402

TEST_API_KEY = "sk-test-4f9c2a7e1b"
#: A connection (extra ``retry``) that gives up on a transient failure after two sends, 50 ms apart.
FAST_RETRIES_CONN_ID = "evolink_fast_retries"
FAST_RETRIES = {"max_attempts": 2, "paid_max_attempts": 2, "initial_wait": 0.05, "jitter": 0}

# Real S3 and GCS servers (s3_server, gcs_server) for any test folder: tests/objectstores/plugin.py.
pytest_plugins = ["tests.objectstores.plugin"]


def connection_json(base_url: str, api_key: str = TEST_API_KEY, **extra: object) -> str:
    data: dict[str, object] = {"conn_type": "evolink", "host": base_url, "password": api_key}
    if extra:
        data["extra"] = extra
    return json.dumps(data)


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """One emulator for the session, with short jobs. Tests that inject faults reset it afterwards."""
    server = EmulatorServer(EmulatorConfig(api_key=TEST_API_KEY, job_seconds=3.0, seed=7))
    server.start()
    # The emulator serves the file service too (input uploads): the extra points there.
    os.environ["AIRFLOW_CONN_EVOLINK_DEFAULT"] = connection_json(
        server.base_url, files_base_url=server.base_url
    )
    # The same emulator through a connection whose extra retries fast: for DAGs whose tries fail on purpose.
    os.environ[f"AIRFLOW_CONN_{FAST_RETRIES_CONN_ID.upper()}"] = connection_json(
        server.base_url, files_base_url=server.base_url, retry=FAST_RETRIES
    )
    try:
        yield server
    finally:
        server.stop()


DUPLICATE_PAID_POSTS: list[str] = []
PAID_POSTS_CHECKED = [0]


def duplicate_paid_posts(emulator: EmulatorServer) -> list[str]:
    """Idempotency keys for which more than one job was created.

    Evolink's gateway answers a repeated key from its ledger instead of creating a job (the emulator
    replays likewise), so sending a key again is safe; creating a second job for it is not. A key whose
    first job ended ``failed`` is exempt: paying again after a retryable failure is intended.
    """
    final = {task["id"]: task["final_status"] for task in emulator.state.tasks()}
    processed: dict[str, list[str]] = {}
    for record in emulator.state.requests():
        if record["method"] == "POST" and record["task_created"]:
            processed.setdefault(record["idempotency_key"] or "", []).append(record["task_id"])
    PAID_POSTS_CHECKED[0] += sum(len(ids) for ids in processed.values())
    return [key for key, ids in processed.items() if len(ids) > 1 and final.get(ids[0]) != "failed"]


@pytest.fixture
def clean_emulator(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    """The session emulator with no faults and an empty request log, and left that way.

    On the way out it fails the test if any paid POST was processed twice for one key.
    """
    emulator.state.reset()
    yield emulator
    duplicates = duplicate_paid_posts(emulator)
    DUPLICATE_PAID_POSTS.extend(duplicates)
    emulator.state.reset()
    assert duplicates == [], f"paid POSTs processed more than once for keys {duplicates}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if PAID_POSTS_CHECKED[0]:
        terminalreporter.write_line(
            f"Jobs created by paid POSTs in the emulator: {PAID_POSTS_CHECKED[0]}; "
            f"keys with a second job: {len(DUPLICATE_PAID_POSTS)}"
        )


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create the metadata DB once per pytest process (``dag.test()`` needs it)."""
    from airflow.utils import db

    db.initdb()
    from airflow.models.pool import Pool

    Pool.create_or_update_pool(
        "evolink_submissions", slots=2, description="Evolink submissions", include_deferred=False
    )


#: Tests that do not touch Airflow (the emulator, the pure core rules, the benchmarks' schedule checks, the
#: import rules): the oldest Airflow's run (scripts/test_oldest_airflow.sh) deselects them with
#: ``--airflow-only``, as they would prove the same thing twice. tests/unit/test_airflow_free.py checks that
#: importing them imports no Airflow. (test_emulator_accepts_spec.py sends through the real hook: it stays.)
NO_AIRFLOW = (
    *(
        path.relative_to(REPO).as_posix()
        for path in sorted((REPO / "tests" / "emulator").glob("test_*.py"))
        if path.name != "test_emulator_accepts_spec.py"
    ),
    "tests/unit/benchmarks/test_poll_schedule_targets.py",
    "tests/unit/core/test_models.py",
    "tests/unit/core/test_retry_and_polling.py",
    "tests/unit/core/test_task_and_protocol.py",
    "tests/unit/test_import_rules.py",
    "tests/unit/test_airflow_free.py",
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--airflow-only",
        action="store_true",
        help="deselect the tests that do not touch Airflow (tests/conftest.py NO_AIRFLOW)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The tests on the shared cluster last (in their order): a module with a cluster of its own (Celery)
    # then runs and stops its cluster before the shared one starts, so the two never compete for the CPU.
    items.sort(key=lambda item: "shared_cluster" in getattr(item, "fixturenames", ()))
    if not config.getoption("--airflow-only"):
        return
    keep, drop = [], []
    for item in items:
        relative = item.path.relative_to(REPO).as_posix()
        (drop if relative in NO_AIRFLOW else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def shared_cluster() -> Iterator[Any]:
    """One real Airflow cluster for the e2e and browser modules that can share it (tests/e2e/cluster.py)."""
    from tests.e2e.cluster import shared_cluster as start

    with start() as cluster:
        yield cluster


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    shutil.rmtree(_HOME, ignore_errors=True)

"""OpenLineage events of real DAG runs (``dag.test()`` against the emulator), read from the file transport.

The DAGs (tests/dags/evolink_lineage.py) run in one child process configured as a user would configure
OpenLineage (environment variables, file transport), because Airflow loads the OpenLineage listener and
the hook lineage reader once per process. The listener emits in a thread the task waits for
(``execute_in_thread``), so every event is in the file when the child exits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, TEST_API_KEY
from tests.lineage.child_env import openlineage_env

pytest.importorskip(
    "airflow.providers.openlineage",
    reason="apache-airflow-providers-openlineage is not installed (pip install 'airflow-provider-evolink[openlineage]')",
)

pytestmark = pytest.mark.usefixtures("airflow_db")

IMAGES = "https://images.example.com"
FAILURE_CODE = "content_policy_violation"
FAILURE_MESSAGE = "blocked by the safety filter"


@dataclass
class LineageRuns:
    states: dict[str, str]
    events: list[dict[str, Any]]
    raw: str
    folder: Path
    emulator_tasks: list[dict[str, Any]]
    emulator_url: str

    def events_of(self, job: str, event_type: str) -> list[dict[str, Any]]:
        found = [e for e in self.events if e["job"]["name"] == job and e["eventType"] == event_type]
        assert found, f"no {event_type} event of {job} in {sorted(self.jobs())}"
        return found

    def event(self, job: str, event_type: str) -> dict[str, Any]:
        found = self.events_of(job, event_type)
        assert len(found) == 1, f"{len(found)} {event_type} events of {job}"
        return found[0]

    def jobs(self) -> set[tuple[str, str]]:
        return {(e["job"]["name"], e["eventType"]) for e in self.events}


@pytest.fixture(scope="module")
def runs(emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LineageRuns]:
    folder = tmp_path_factory.mktemp("lineage")
    events_file = folder / "events.jsonl"
    env = openlineage_env(events_file)  # the fixtures put the connections in os.environ
    emulator.state.reset()
    # The first job fails: the first DAG run is the one meant to fail.
    emulator.faults.fail_next_jobs(FAILURE_CODE, FAILURE_MESSAGE)
    plan = [
        ["lineage_failed", {}],
        ["lineage_wait_and_save", {"destination": f"file://{folder}/wait"}],
        ["lineage_deferred", {"destination": f"file://{folder}/deferred"}],
    ]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.lineage.run_dags", json.dumps(plan)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        tasks = emulator.state.tasks()
    finally:
        emulator.state.reset()
    assert done.returncode == 0, done.stderr[-4000:]
    states = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            result = json.loads(line)
            states[result["dag_id"]] = result["state"]
    raw = events_file.read_text() if events_file.exists() else ""
    assert raw, f"no OpenLineage events were written; child stderr:\n{done.stderr[-4000:]}"
    events = [json.loads(line) for line in raw.splitlines() if line.strip()]
    yield LineageRuns(states, events, raw, folder, tasks, emulator.base_url)


def datasets(event: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event.get(side) or []]


def evolink_task(runs: LineageRuns, task_id: str) -> dict[str, Any]:
    [task] = [t for t in runs.emulator_tasks if t["id"] == task_id]
    return task


def test_the_runs_end_as_meant(runs: LineageRuns):
    assert runs.states == {
        "lineage_failed": "failed",
        "lineage_wait_and_save": "success",
        "lineage_deferred": "success",
    }


@pytest.mark.parametrize("job", ["lineage_wait_and_save.generate", "lineage_deferred.generate"])
def test_inputs_are_the_request_images_without_query_strings(runs: LineageRuns, job: str):
    expected = [(IMAGES, "/frames/first.png"), (IMAGES, "/frames/last.png")]
    # A deferred task starts twice: before the deferral and when it resumes.
    for start in runs.events_of(job, "START"):
        assert datasets(start, "inputs") == expected
    assert datasets(runs.event(job, "COMPLETE"), "inputs") == expected
    # The presigned signature of the first frame is in no dataset name.
    for event in runs.events:
        for namespace, name in datasets(event, "inputs") + datasets(event, "outputs"):
            assert "?" not in name and "sig-0d4c2b" not in name + namespace


@pytest.mark.parametrize(
    ("job", "folder"),
    [
        ("lineage_wait_and_save.generate", "wait/generated"),
        ("lineage_wait_and_save.save", "wait/saved"),
        ("lineage_deferred.generate", "deferred"),
    ],
)
def test_outputs_are_the_stored_files_with_their_size(runs: LineageRuns, job: str, folder: str):
    event = runs.event(job, "COMPLETE")
    task_id = event["run"]["facets"]["externalQuery"]["externalQueryId"]
    stored = runs.folder / folder / f"{task_id}.mp4"
    assert stored.stat().st_size > 0
    [output] = event["outputs"]
    assert (output["namespace"], output["name"]) == ("file", str(stored))
    statistics = output["outputFacets"]["outputStatistics"]
    assert statistics["size"] == stored.stat().st_size
    assert statistics["fileCount"] == 1


def test_no_temporary_file_or_expiring_result_url_is_a_dataset(runs: LineageRuns):
    assert ".evolink-part-" not in runs.raw
    for event in runs.events:
        for namespace, name in datasets(event, "inputs") + datasets(event, "outputs"):
            assert "/files/" not in name, f"a result URL became a dataset: {namespace}{name}"
            assert not runs.emulator_url.startswith(namespace)


@pytest.mark.parametrize("job", ["lineage_wait_and_save.generate", "lineage_deferred.generate"])
def test_run_facets_name_the_evolink_task_its_cost_and_time(runs: LineageRuns, job: str):
    facets = runs.event(job, "COMPLETE")["run"]["facets"]
    query = facets["externalQuery"]
    assert query["source"] == "evolink"
    task = evolink_task(runs, query["externalQueryId"])
    assert task["final_status"] == "completed"

    from airflow_evolink.lineage.facets import SCHEMA_URL

    generation = facets["evolink_generation"]
    assert generation["_schemaURL"] == SCHEMA_URL
    assert generation["model"] == "kling-v3-image-to-video"
    assert generation["duration"] == 5 and generation["quality"] == "720p"
    assert generation["status"] == "completed"
    assert generation["creditsReserved"] > 0
    assert generation["creditsUsed"] > 0
    assert generation["estimatedTime"] > 0
    assert 0 < generation["generationTime"] < 120
    assert "errorCode" not in generation or generation["errorCode"] is None


def test_the_download_task_names_the_same_evolink_task(runs: LineageRuns):
    generated = runs.event("lineage_wait_and_save.generate", "COMPLETE")["run"]["facets"]["externalQuery"]
    saved = runs.event("lineage_wait_and_save.save", "COMPLETE")["run"]["facets"]["externalQuery"]
    assert saved == generated


def test_a_failed_generation_reports_evolinks_error(runs: LineageRuns):
    event = runs.event("lineage_failed.generate", "FAIL")
    facets = event["run"]["facets"]
    task = evolink_task(runs, facets["externalQuery"]["externalQueryId"])
    assert task["final_status"] == "failed"
    error = facets["evolink_error"]
    assert error["programmingLanguage"] == "evolink"
    assert error["message"] == f"[{FAILURE_CODE}] {FAILURE_MESSAGE}"
    generation = facets["evolink_generation"]
    assert generation["errorCode"] == FAILURE_CODE
    assert generation["status"] == "failed"
    # Airflow's own errorMessage facet keeps the exception the task raised.
    assert FAILURE_CODE in facets["errorMessage"]["message"]
    assert datasets(event, "inputs") == [(IMAGES, "/frames/first.png"), (IMAGES, "/frames/last.png")]
    assert event.get("outputs") == []


def test_the_api_key_is_nowhere_in_the_events(runs: LineageRuns):
    assert TEST_API_KEY not in runs.raw

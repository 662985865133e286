"""OpenLineage events of a real DAG run whose frames come from S3 and GCS and whose video is stored to S3
and GCS (moto and gcp-storage-emulator on 127.0.0.1, through the test connections).

The run happens in a child process with OpenLineage configured from the start (file transport), as in
tests/lineage/test_openlineage.py: Airflow loads the listener once per process. The events must name the
datasets as the OpenLineage naming spec does for object stores: namespace ``s3://<bucket>`` or
``gs://<bucket>``, name the key; no connection id, query string or key in any of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import REPO, TEST_API_KEY
from tests.lineage.child_env import openlineage_env
from tests.objectstores.servers import (
    GCS_CONN_ID,
    S3_ACCESS_KEY,
    S3_CONN_ID,
    S3_SECRET_KEY,
    GCSServer,
    S3Server,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

BUCKET = "lineage-stores"
PNG = b"\x89PNG\r\n\x1a\n"
FRAMES = {"frames/first.png": PNG + b"first" * 300, "frames/last.png": PNG + b"last" * 300}


@dataclass
class Run:
    state: str
    events: list[dict[str, Any]]
    raw: str
    #: The frame URLs the emulator received in presign mode.
    presigned_urls: list[str]

    def event(self, job: str, event_type: str) -> dict[str, Any]:
        found = [e for e in self.events if e["job"]["name"] == job and e["eventType"] == event_type]
        assert len(found) == 1, f"{len(found)} {event_type} events of {job}"
        return found[0]


def datasets(event: dict[str, Any], side: str) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in event.get(side) or []]


@pytest.fixture(scope="module")
def run(
    emulator: Any, s3_server: S3Server, gcs_server: GCSServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    from airflow.sdk import ObjectStoragePath

    s3_server.create_bucket(BUCKET)
    gcs_server.create_bucket(BUCKET)
    s3_server.client().put_object(Bucket=BUCKET, Key="frames/first.png", Body=FRAMES["frames/first.png"])
    # Written through gcsfs here only to set the stage; what the test checks is read from the server.
    ObjectStoragePath(f"gs://{BUCKET}/frames/last.png", conn_id=GCS_CONN_ID).write_bytes(
        FRAMES["frames/last.png"]
    )
    assert gcs_server.read(BUCKET, "frames/last.png") == FRAMES["frames/last.png"]
    events_file = tmp_path_factory.mktemp("lineage-stores") / "events.jsonl"
    env = openlineage_env(events_file)  # the fixtures put the connections in os.environ
    emulator.state.reset()
    plan = [["lineage_objectstores", {"bucket": BUCKET}]]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tests.lineage.run_dags", json.dumps(plan)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        posts = [r for r in emulator.state.requests() if r["path"] == "/v1/videos/generations"]
    finally:
        emulator.state.reset()
    assert done.returncode == 0, done.stderr[-4000:]
    [state] = [json.loads(line)["state"] for line in done.stdout.splitlines() if line.startswith("{")]
    raw = events_file.read_text() if events_file.exists() else ""
    assert raw, f"no OpenLineage events were written; child stderr:\n{done.stderr[-4000:]}"
    events = [json.loads(line) for line in raw.splitlines() if line.strip()]
    presigned = [str(p["body"]["image_start"]) for p in posts if "?" in str(p["body"].get("image_start", ""))]
    yield Run(state, events, raw, presigned)


def test_the_run_succeeds_and_stores_one_video_in_each_store(run: Run, s3_server: S3Server, gcs_server):
    assert run.state == "success", run.state
    [s3_video] = s3_server.list_keys(BUCKET, "videos/")
    [gcs_video] = gcs_server.list_keys(BUCKET, "videos/")
    assert s3_server.read(BUCKET, s3_video) == gcs_server.read(BUCKET, gcs_video)


def test_inputs_are_the_frames_named_by_bucket_and_key(run: Run):
    expected = [(f"s3://{BUCKET}", "frames/first.png"), (f"gs://{BUCKET}", "frames/last.png")]
    assert datasets(run.event("lineage_objectstores.generate", "START"), "inputs") == expected
    assert datasets(run.event("lineage_objectstores.generate", "COMPLETE"), "inputs") == expected


def test_outputs_are_the_stored_objects_with_their_size(run: Run, s3_server: S3Server, gcs_server):
    [s3_video] = s3_server.list_keys(BUCKET, "videos/")
    [gcs_video] = gcs_server.list_keys(BUCKET, "videos/")
    for job, namespace, key, size in (
        ("lineage_objectstores.generate", f"s3://{BUCKET}", s3_video, len(s3_server.read(BUCKET, s3_video))),
        ("lineage_objectstores.save", f"gs://{BUCKET}", gcs_video, len(gcs_server.read(BUCKET, gcs_video))),
    ):
        [output] = run.event(job, "COMPLETE")["outputs"]
        assert (output["namespace"], output["name"]) == (namespace, key)
        assert output["outputFacets"]["outputStatistics"] == {
            **output["outputFacets"]["outputStatistics"],
            "size": size,
            "fileCount": 1,
        }


def test_a_presigned_frame_is_named_by_bucket_and_key_without_its_signature(run: Run):
    expected = [(f"s3://{BUCKET}", "frames/first.png")]
    assert datasets(run.event("lineage_objectstores.presigned", "START"), "inputs") == expected
    assert datasets(run.event("lineage_objectstores.presigned", "COMPLETE"), "inputs") == expected
    # The signed URL went to Evolink (the emulator saw its signature) and into no event.
    [signed] = run.presigned_urls
    query = signed.split("?", 1)[1]
    assert "Signature=" in query  # (SigV2 or SigV4, as botocore chooses for the region)
    assert query not in run.raw and "Signature=" not in run.raw


def test_no_connection_id_query_string_temporary_name_or_key_in_any_event(run: Run):
    names = [
        (namespace, name)
        for event in run.events
        for namespace, name in datasets(event, "inputs") + datasets(event, "outputs")
    ]
    assert names, "no dataset in any event"
    for namespace, name in names:
        assert namespace in (f"s3://{BUCKET}", f"gs://{BUCKET}"), namespace
        assert "?" not in name and "@" not in namespace + name and not name.startswith("/")
        assert ".evolink-part-" not in name
        assert S3_CONN_ID not in namespace + name and GCS_CONN_ID not in namespace + name
    for secret in (TEST_API_KEY, S3_SECRET_KEY, S3_ACCESS_KEY):
        assert secret not in run.raw


@pytest.mark.parametrize(
    ("path", "reported"),
    [
        ("s3://evolink_test_s3@bucket/videos/a.mp4", "s3://bucket/videos/a.mp4"),
        ("gs://user:secret@bucket/a.mp4", "gs://bucket/a.mp4"),
        ("s3://bucket/a.mp4", "s3://bucket/a.mp4"),
        ("file:///data/a.mp4", "file:///data/a.mp4"),
        ("memory:///videos/a.mp4", "memory:///videos/a.mp4"),
    ],
)
def test_hook_lineage_uris_carry_no_connection_id(path: str, reported: str):
    """What the download reports to Airflow's hook lineage collector (the run above showed a connection id
    in a dataset namespace when the URI kept it)."""
    from airflow_evolink.lineage.hook import asset_uri

    assert asset_uri(path) == reported

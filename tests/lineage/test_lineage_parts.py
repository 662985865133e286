"""The parts of lineage that need no DAG run: names, the request's inputs, hook lineage of downloads,
facets after a deferral, and that the provider imports without OpenLineage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_evolink.lineage.naming import DatasetName, dataset_name, input_urls
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///data/videos/t.mp4", ("file", "/data/videos/t.mp4")),
        ("file://nas01/data/t.mp4", ("file://nas01", "/data/t.mp4")),
        ("s3://bucket/videos/t.mp4", ("s3://bucket", "videos/t.mp4")),
        ("s3a://bucket/videos/t.mp4", ("s3://bucket", "videos/t.mp4")),
        ("gcs://bucket/t.mp4", ("gs://bucket", "t.mp4")),
        ("gs://bucket/t.mp4", ("gs://bucket", "t.mp4")),
        ("https://cdn.example.com/a/b.png", ("https://cdn.example.com", "/a/b.png")),
        (
            "HTTPS://CDN.example.com:8443/a.png?X-Amz-Signature=s#frag",
            ("https://cdn.example.com:8443", "/a.png"),
        ),
        ("https://user:secret@cdn.example.com/a.png", ("https://cdn.example.com", "/a.png")),
        ("https://cdn.example.com", ("https://cdn.example.com", "/")),
        ("memory://bucket/t.mp4", ("memory://bucket", "/t.mp4")),
    ],
)
def test_dataset_names_follow_the_openlineage_naming(uri: str, expected: tuple[str, str]):
    assert dataset_name(uri) == DatasetName(*expected)


@pytest.mark.parametrize("uri", ["", "not a url", "data:image/png;base64,AAAA", "https:///no-host", 42])
def test_what_is_not_a_dataset(uri: Any):
    assert dataset_name(uri) is None


def test_input_urls_take_every_media_field_but_the_callback():
    request = {
        "model": "seedance-2.0-reference-to-video",
        "image_end": "https://e.example.com/last.png",
        "image_start": "https://e.example.com/first.png",
        "image_urls": ["https://e.example.com/1.png", "https://e.example.com/first.png"],
        "video_urls": ["https://v.example.com/clip.mp4"],
        "audio_url": "https://a.example.com/voice.mp3",
        "callback_url": "https://hooks.example.com/evolink",
        "prompt": "https://not-an-input.example.com",
    }
    assert input_urls(request) == [
        "https://e.example.com/first.png",
        "https://e.example.com/last.png",
        "https://e.example.com/1.png",
        "https://v.example.com/clip.mp4",
        "https://a.example.com/voice.mp3",
    ]


def test_the_provider_imports_without_importing_openlineage():
    script = (
        "import sys\n"
        "import airflow_evolink.operators.evolink, airflow_evolink.operators.download\n"
        "import airflow_evolink.sensors.evolink, airflow_evolink.storage.download\n"
        "import airflow_evolink.lineage.openlineage, airflow_evolink.lineage.hook\n"
        "print(sorted(m for m in sys.modules if m.startswith(('openlineage', 'airflow.providers.openlineage'))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    imported = set(json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')))
    # Airflow's providers manager reads every installed provider's info; nothing else may be loaded.
    assert imported <= {"airflow.providers.openlineage", "airflow.providers.openlineage.get_provider_info"}


class _Collector:
    def __init__(self) -> None:
        self.outputs: list[str] = []

    def add_output_asset(self, context: Any, uri: str | None = None, **_: Any) -> None:
        self.outputs.append(str(uri))

    def add_input_asset(self, context: Any, uri: str | None = None, **_: Any) -> None:
        raise AssertionError(f"a download reads no stored file, yet {uri} was reported as input")


@pytest.fixture
def collector(monkeypatch: pytest.MonkeyPatch) -> _Collector:
    """Airflow's hook lineage collector, as ObjectStoragePath and the provider both look it up."""
    collector = _Collector()
    try:
        import airflow.sdk.lineage as lineage_module
    except ImportError:  # Airflow 3.0
        import airflow.lineage.hook as lineage_module  # type: ignore[no-redef]
    monkeypatch.setattr(lineage_module, "get_hook_lineage_collector", lambda: collector)
    return collector


@pytest.mark.parametrize("where", ["file", "memory"])
def test_hook_lineage_reports_the_final_path_not_the_temporary_one(
    clean_emulator: Any, tmp_path: Path, collector: _Collector, where: str
):
    from airflow.sdk import ObjectStoragePath

    from airflow_evolink.storage.download import download_videos
    from tests.storage.test_download import finished_task

    if where == "memory":
        from airflow.sdk.io import attach
        from fsspec.implementations.memory import MemoryFileSystem

        attach(protocol="memory", fs=MemoryFileSystem())
    task_id, url = finished_task(clean_emulator)
    folder = f"file://{tmp_path}/videos" if where == "file" else f"memory://lineage-{tmp_path.name}/videos"
    [video] = download_videos([url], ObjectStoragePath(folder), task_id=task_id)
    # (Airflow 3.0 spells the memory filesystem's paths "memory:///...": compare what the path says.)
    assert collector.outputs == [video.path] == [str(ObjectStoragePath(f"{folder}/{task_id}.mp4"))]
    # Run again: the kept file is still this task's output, reported once more by its final path.
    download_videos([url], ObjectStoragePath(folder), task_id=task_id)
    assert collector.outputs == [video.path, video.path]


def test_facets_after_a_deferral_come_from_xcom_and_the_event(tmp_path: Path):
    """``execute_complete`` in a fresh process: no state from ``execute`` but what XCom holds."""
    from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator

    operator = EvolinkSubmitVideoOperator(
        task_id="generate",
        model="kling-v3-image-to-video",
        prompt="a test",
        image_start="https://images.example.com/first.png?sig=1",
        duration=5,
    )
    submitted = {"id": "task-unified-1", "status": "pending", "created": 1000, "credits_reserved": 40.0}
    submitted["estimated_time"] = 90.0
    ti = _FakeTaskInstance({"evolink_task": submitted})
    event = {
        "status": "failed",
        "evolink_task_id": "task-unified-1",
        "code": "image_processing_error",
        "message": "Evolink task task-unified-1 ended failed [image_processing_error]: bad image",
        "retryable": False,
        "task": {
            "id": "task-unified-1",
            "status": "failed",
            "created": 1000,
            "model": "kling-v3-image-to-video",
            "error": {"code": "image_processing_error", "message": "bad image"},
        },
    }
    with pytest.raises(Exception, match="bad image"):
        operator.execute_complete({"ti": ti, "task": operator}, event)
    assert ti.pulled == [("generate", "evolink_task", -1)]

    lineage = operator.get_openlineage_facets_on_failure(ti)
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("https://images.example.com", "/first.png")]
    facets = lineage.run_facets
    assert facets["externalQuery"].externalQueryId == "task-unified-1"
    generation = facets["evolink_generation"]
    assert (generation.creditsReserved, generation.estimatedTime) == (40.0, 90.0)
    assert generation.status == "failed" and generation.errorCode == "image_processing_error"
    assert generation.generationTime is not None and generation.generationTime > 0
    assert facets["evolink_error"].message == "[image_processing_error] bad image"
    # The facets serialize as OpenLineage JSON.
    from openlineage.client.serde import Serde

    assert json.loads(Serde.to_json(generation))["_schemaURL"].endswith("EvolinkGenerationRunFacet")


def test_lineage_that_cannot_be_built_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
):
    from airflow_evolink.operators.download import EvolinkDownloadVideoOperator

    operator = EvolinkDownloadVideoOperator(task_id="save", destination="file:///tmp", outlets=[])
    operator._lineage.downloads = [{"path": "file:///tmp/a.mp4", "size": object()}]
    operator._lineage.note_task = None  # type: ignore[assignment]
    operator._lineage.task = {"created": "not a number", "model": object()}
    assert operator.get_openlineage_facets_on_complete(None) is not None
    operator._lineage.downloads = None  # type: ignore[assignment]
    assert operator.get_openlineage_facets_on_complete(None) is None
    # Airflow's task logger may write through structlog (stdout) or logging, by version.
    assert "Could not build the OpenLineage facets" in caplog.text + capsys.readouterr().out


class _FakeTaskInstance:
    dag_id = "d"
    run_id = "r"
    task_id = "generate"
    map_index = -1
    try_number = 1

    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = dict(xcoms)
        self.pulled: list[tuple[str, str, int]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> Any:
        self.pulled.append((task_ids, key, map_indexes))
        return self.xcoms.get(key)


def test_the_shipped_schema_lists_the_facets_fields():
    import attr

    from airflow_evolink.lineage.facets import SCHEMA_URL, EvolinkGenerationRunFacet

    schema = json.loads((REPO / "airflow_evolink" / "lineage" / "EvolinkGenerationRunFacet.json").read_text())
    [_, own] = schema["$defs"]["EvolinkGenerationRunFacet"]["allOf"]
    fields = {f.name for f in attr.fields(EvolinkGenerationRunFacet) if not f.name.startswith("_")}
    assert set(own["properties"]) == fields
    assert SCHEMA_URL.startswith(schema["$id"])

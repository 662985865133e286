"""The example DAGs in real Airflow (``dag.test()``, triggers run inline) against the emulator."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from airflow_evolink.links.evolink import GALLERY_AVAILABLE, gallery_path
from airflow_evolink.utils import xcom_keys
from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS
from tests.airflow_helpers import dag_bag, rendered_map_indexes, xcom_keys_of, xcom_values

pytestmark = pytest.mark.usefixtures("airflow_db")

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
EXAMPLES = [
    "example_evolink_image_to_video",
    "example_evolink_batch",
    "example_evolink_text_to_video",
    "example_evolink_persist_videos",
    "example_evolink_on_new_videos",
    "example_evolink_storage_inputs",
]


def load_dag(dag_id: str) -> Any:
    return dag_bag(DAGS_DIR).get_dag(dag_id)


def gallery_link(dag_run: Any, task_id: str, *, video: bool, map_index: int = -1) -> str:
    return gallery_path(dag_run.dag_id, dag_run.run_id, task_id, map_index, video=video)


def test_example_dags_parse_without_errors():
    assert set(EXAMPLES) <= set(dag_bag(DAGS_DIR).dag_ids)


def test_image_to_video_dag(clean_emulator):
    dag_run = load_dag("example_evolink_image_to_video").test()
    assert dag_run.state == "success"
    [task_id] = xcom_values(dag_run, "submit_video")
    assert task_id.startswith("task-unified-")
    [urls] = xcom_values(dag_run, "wait_for_video")
    assert urls == [f"{clean_emulator.base_url}/files/{task_id}.mp4"]
    assert xcom_values(dag_run, "use_videos") == [1]
    [task] = xcom_values(dag_run, "submit_video", xcom_keys.EVOLINK_TASK)
    assert task["id"] == task_id and task["status"] == "pending"
    assert xcom_values(dag_run, "submit_video", xcom_keys.CREDITS_RESERVED)[0] > 0
    [video_link] = xcom_values(dag_run, "wait_for_video", "_link_EvolinkVideoLink")
    assert video_link == gallery_link(dag_run, "wait_for_video", video=True) or video_link == urls[0]
    assert clean_emulator.state.stats()["tasks_created"] == 1
    # One XCom entry per fact: no task URL of the API, no copy of the task id, no empty video link.
    assert xcom_keys_of(dag_run, "submit_video") == {
        "return_value",
        xcom_keys.EVOLINK_REQUEST,
        xcom_keys.EVOLINK_TASK,
        xcom_keys.CREDITS_RESERVED,
        xcom_keys.ESTIMATED_TIME,
        xcom_keys.EVOLINK_ESTIMATE,
    } | ({"_link_EvolinkTaskLink"} if GALLERY_AVAILABLE else set())
    # Priced before it was paid for: the emulator's published price for a 5 s 720p kling-v3 clip.
    [estimate] = xcom_values(dag_run, "submit_video", xcom_keys.EVOLINK_ESTIMATE)
    assert estimate["uc"] == 270_000 and estimate["evolink_task_id"] == task_id
    [request] = xcom_values(dag_run, "submit_video", xcom_keys.EVOLINK_REQUEST)
    assert request["model"] == "kling-v3-image-to-video" and request["prompt"]


def test_batch_dag_maps_one_submission_per_shot(clean_emulator):
    dag_run = load_dag("example_evolink_batch").test()
    assert dag_run.state == "success"
    task_ids = xcom_values(dag_run, "submit_video")
    assert len(task_ids) == 3 and len(set(task_ids)) == 3
    assert xcom_values(dag_run, "summarize") == [{"videos": 3}]
    # Each mapped instance is named by its prompt in the UI, not 0, 1, 2.
    names = rendered_map_indexes(dag_run, "submit_video")
    assert names == [
        "A lighthouse at dawn, waves rolling in",
        "A cat stretching on a sunny windowsill",
        "City traffic at night, long exposure",
    ]
    assert rendered_map_indexes(dag_run, "wait_for_video") == task_ids
    # Planned within params.budget_usd before anything was paid: three clips of 27 credits.
    [plan] = xcom_values(dag_run, "plan_budget", xcom_keys.EVOLINK_PLAN)
    assert plan["approved"] == 3 and plan["total_uc"] == 3 * 270_000 and plan["policy"] == "fail"
    # The run's cost summary adds up to what the emulator billed, and to the plan.
    [costs] = xcom_values(dag_run, "cost_summary")
    billed = clean_emulator.state.credits()["data"]["user"]["used_credits"]
    assert billed == pytest.approx(3 * 27)
    assert costs["generations"] == 3 and costs["estimated"] == [] and len(costs["charged"]) == 3
    assert costs["total_credits"] == pytest.approx(billed) and billed > 0
    assert costs["per_model"] == {"kling-v3-image-to-video": pytest.approx(billed)}
    assert costs["per_task"] == {"submit_video": pytest.approx(billed)}
    assert xcom_values(dag_run, "wait_for_video", xcom_keys.CREDITS_USED) == [pytest.approx(billed / 3)] * 3
    keys = {
        r["idempotency_key"] for r in clean_emulator.state.requests() if r["path"] == "/v1/videos/generations"
    }
    assert len(keys) == 3


def test_batch_dag_submits_nothing_over_its_budget(clean_emulator):
    # Three clips of 27 credits ($0.397 each) do not fit $1: policy "fail" refuses the whole plan.
    dag_run = load_dag("example_evolink_batch").test(run_conf={"budget_usd": 1})
    assert dag_run.state == "failed"
    assert [r for r in clean_emulator.state.requests() if r["path"] == "/v1/videos/generations"] == []


def test_the_demo_prints_the_published_price_and_the_charge_of_its_clip(clean_emulator):
    """scripts/demo.sh runs this DAG and prints scripts/show_results.py's lines."""
    dag_run = load_dag("example_evolink_image_to_video").test()
    assert dag_run.state == "success"
    values = {
        (task_id, key): value
        for task_id in ("submit_video", "wait_for_video")
        for key in (xcom_keys.EVOLINK_ESTIMATE, xcom_keys.EVOLINK_TASK, xcom_keys.CREDITS_RESERVED)
        for value in xcom_values(dag_run, task_id, key)
    }
    lines = _show_results().money_lines(values)
    # Evolink's published price for a 5 s 720p kling-v3 clip: 27 credits, under $1.
    assert lines[0] == "estimate: 27 credits (270,000 UC, ~$0.40) (estimated)"
    assert lines[1] == "charged: 27 credits (~$0.40)"
    assert lines[2].startswith("credits_reserved as reported: ") and "$" not in lines[2]
    assert lines[3] == "estimate and charge agree"


def _show_results() -> Any:
    import importlib.util

    path = DAGS_DIR.parent / "scripts" / "show_results.py"
    spec = importlib.util.spec_from_file_location("show_results", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_text_to_video_dag_submits_and_waits_in_one_task(clean_emulator):
    dag_run = load_dag("example_evolink_text_to_video").test()
    assert dag_run.state == "success"
    [task_id] = xcom_values(dag_run, "generate_video")
    [urls] = xcom_values(dag_run, "report")
    assert urls == [f"{clean_emulator.base_url}/files/{task_id}.mp4"]
    [job] = clean_emulator.state.tasks()
    assert job["model"] == "seedance-2.0-text-to-video"


@pytest.mark.skipif(
    not AIRFLOW_V_3_1_PLUS,
    reason="dag.test() on Airflow 3.0 leaves assets inactive (AirflowInactiveAssetInInletOrOutletException)",
)
def test_persist_videos_dag_writes_files_and_updates_the_asset(clean_emulator, tmp_path):
    dag_run = load_dag("example_evolink_persist_videos").test(run_conf={"destination": f"file://{tmp_path}"})
    assert dag_run.state == "success"
    [task_id] = xcom_values(dag_run, "submit_video")
    [paths] = xcom_values(dag_run, "save_videos")
    written = tmp_path / dag_run.run_id / f"{task_id}.mp4"
    assert paths == [f"file://{written}"]
    [downloads] = xcom_values(dag_run, "save_videos", xcom_keys.DOWNLOADS)
    assert downloads[0]["size"] == written.stat().st_size > 0
    assert re.fullmatch(r"crc32c:[0-9a-f]{8}", downloads[0]["checksum"])
    # The saved copy has its own link: the gallery's video route, which serves the stored file first.
    assert xcom_values(dag_run, "save_videos", "_link_EvolinkVideoLink") == [
        gallery_link(dag_run, "save_videos", video=True)
    ]

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "evolink_videos", AssetEvent.source_run_id == dag_run.run_id)
        ).all()
        assert [event.extra["paths"] for event in events] == [paths]


def test_storage_inputs_dag_uploads_its_frames(clean_emulator, tmp_path):
    frames = {"first.png": b"\x89PNG\r\n\x1a\n" + b"1" * 500, "last.png": b"\x89PNG\r\n\x1a\n" + b"2" * 500}
    for name, data in frames.items():
        (tmp_path / name).write_bytes(data)
    dag_run = load_dag("example_evolink_storage_inputs").test(run_conf={"frames": f"file://{tmp_path}"})
    assert dag_run.state == "success"
    [records] = xcom_values(dag_run, "generate_video", "evolink_inputs")
    assert [(r["field"], r["source"]) for r in records] == [
        ("image_start", f"file://{tmp_path}/first.png"),
        ("image_end", f"file://{tmp_path}/last.png"),
    ]
    [post] = [r for r in clean_emulator.state.requests() if r["path"] == "/v1/videos/generations"]
    assert [post["body"]["image_start"], post["body"]["image_end"]] == [r["url"] for r in records]
    # Uploaded once each, then deleted when the video was done (cleanup_uploads=True).
    held = clean_emulator.state.uploads()
    assert held["uploads"] == 2 and held["deleted"] == 2 and held["files"] == []

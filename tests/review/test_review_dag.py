"""The review example DAG in real Airflow (``dag.test()``), answered through the gallery's answer function.

``dag.test()`` keeps a run whose human-in-the-loop tasks wait alive until an answer arrives from outside;
here the answers come from another thread through ``answer_review`` (Airflow's own HITL route function,
as the gallery's buttons call it), against the same metadata DB.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_evolink.version_compat import AIRFLOW_V_3_1_PLUS
from tests.airflow_helpers import xcom_values
from tests.system.test_example_dags import DAGS_DIR

pytestmark = [
    pytest.mark.usefixtures("airflow_db", "auth_manager"),
    pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="human-in-the-loop tasks need Airflow 3.1+"),
]

DAG_ID = "example_evolink_review_and_publish"


@pytest.fixture
def auth_manager() -> Any:
    """The api-server initialises its auth manager at start-up; calling the gallery's review functions
    in this process needs the same (whatever another test module left behind)."""
    from airflow.api_fastapi.app import init_auth_manager

    return init_auth_manager()


def _wait_for_questions(count: int, timeout: float = 240) -> list[Any]:
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from tests.e2e.cluster import wait_for

    def questions() -> list[Any] | None:
        with create_session() as session:
            rows = session.execute(
                select(TaskInstance.run_id, TaskInstance.map_index, TaskInstance.state, HITLDetail.body)
                .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
                .where(TaskInstance.dag_id == DAG_ID, TaskInstance.task_id == "review")
                .order_by(TaskInstance.map_index)
            ).all()
        waiting = [r for r in rows if str(r.state) in ("awaiting_input", "deferred")]
        return list(waiting) if len(waiting) == count else None

    return wait_for(questions, timeout, f"{count} review questions")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_review_publishes_only_the_approved_video(
    clean_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also while the ``evolink_review_of`` XCom is rewritten before the answer (XCom is editable through
    Airflow's API): it names a file outside staging, a non-video and the rejected video; none is copied."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_evolink.plugins.review import answer_review, load_reviews
    from tests.airflow_helpers import dag_bag

    staging, published = tmp_path / "staging", tmp_path / "published"
    outside = tmp_path / "elsewhere" / "secret.mp4"
    outside.parent.mkdir()
    outside.write_bytes(b"not staged")
    dag = dag_bag(DAGS_DIR).get_dag(DAG_ID)
    seen: dict[str, Any] = {}
    reviewer = SimpleAuthManagerUser(username="reviewer", role="admin")

    def review() -> None:
        """The reviewer, answering from outside the run (dag.test() needs the main thread)."""
        try:
            seen["questions"] = first, _ = _wait_for_questions(2)
            _check_the_pending_list(reviewer, first.run_id, monkeypatch)
            with create_session() as session:
                XComModel.set(
                    "evolink_review_of",
                    {
                        "task_id": "generate",
                        "map_index": 1,
                        "evolink_task_id": "forged",
                        "paths": [
                            outside.as_uri(),
                            f"{staging.as_uri()}/{first.run_id}/../../elsewhere/secret.mp4",
                            f"{staging.as_uri()}/{first.run_id}/notes.txt",
                            *_stored_paths(session, first.run_id, 1),  # the other video
                        ],
                    },
                    dag_id=DAG_ID,
                    task_id="review",
                    run_id=first.run_id,
                    map_index=0,
                    session=session,
                )
            with create_session() as session:
                # The gallery plays what the question asks about, not what the rewritten XCom names.
                [asked] = load_reviews(session, reviewer, dag_id=DAG_ID, run_id=first.run_id, map_index=0)
                assert (asked.video_task_id, asked.video_map_index) == ("generate", 0)
                assert asked.generation is not None and asked.generation.evolink_task_id != "forged"
            with create_session() as session:
                seen["approve"] = answer_review(
                    session,
                    reviewer,
                    dag_id=DAG_ID,
                    run_id=first.run_id,
                    task_id="review",
                    map_index=0,
                    decision="Approve",
                )
            with create_session() as session:
                answer_review(
                    session,
                    reviewer,
                    dag_id=DAG_ID,
                    run_id=first.run_id,
                    task_id="review",
                    map_index=1,
                    decision="Reject",
                    note="Too dark; brighter morning light",
                )
        except BaseException as exc:
            seen["error"] = exc
            for map_index in (0, 1):  # a failed check must fail the test, not leave the run waiting
                try:
                    with create_session() as session:
                        answer_review(
                            session,
                            reviewer,
                            dag_id=DAG_ID,
                            run_id=seen["questions"][0].run_id,
                            task_id="review",
                            map_index=map_index,
                            decision="Reject",
                        )
                except Exception:
                    pass

    thread = threading.Thread(target=review, daemon=True)
    thread.start()
    dag_run = dag.test(run_conf={"staging": staging.as_uri(), "published": published.as_uri()})
    thread.join(timeout=30)
    assert "error" not in seen, seen.get("error")
    first, second = seen["questions"]
    run_id = first.run_id
    # The question links to the video and to the gallery's review page of that task instance.
    assert f"/evolink/dags/{DAG_ID}/runs/" in first.body and "/tasks/generate/video?map_index=0" in first.body
    assert "/evolink/review/dags/" in first.body and "/tasks/review?map_index=0" in first.body
    assert "A paper boat drifting down a rainy street" in first.body
    assert "hummingbird" in second.body
    answer = seen["approve"]
    assert answer["chosen_options"] == ["Approve"] and answer["responded_by"]["name"] == "reviewer"
    assert dag_run.state == "success"

    reviews = xcom_values(dag_run, "review", "evolink_review")
    assert [(r["approved"], r["note"], r["reviewer"]) for r in reviews] == [
        (True, "", "reviewer"),
        (False, "Too dark; brighter morning light", "reviewer"),
    ]
    approved_staged = [Path(urlsplit(p).path) for p in reviews[0]["paths"]]
    rejected_staged = [Path(urlsplit(p).path) for p in reviews[1]["paths"]]
    assert len(approved_staged) == len(rejected_staged) == 1
    # Exactly the approved file is published, byte for byte; the rejected one stays in staging only.
    published_files = sorted(published.iterdir())
    assert [f.name for f in published_files] == [approved_staged[0].name]
    assert _sha(published_files[0]) == _sha(approved_staged[0])
    assert rejected_staged[0].is_file() and not (published / rejected_staged[0].name).exists()
    # The review kept what was asked about, not the rewritten XCom: nothing outside staging was read.
    assert reviews[0]["evolink_task_id"] != "forged" and str(outside) not in str(reviews[0]["paths"])
    assert not (published / outside.name).exists()

    states = _task_states(dag_run, "publish")
    assert states == {0: "success", 1: "skipped"}
    [summary] = xcom_values(dag_run, "summary")
    assert summary["published"] == [reviews[0]["evolink_task_id"]]
    assert summary["rejected"] == [
        {
            "evolink_task_id": reviews[1]["evolink_task_id"],
            "staged": [rejected_staged[0].name],
            "note": "Too dark; brighter morning light",
        }
    ]
    # The Asset event downstream DAGs are scheduled on names the published file.
    with create_session() as session:
        events = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.name == "evolink_published_videos", AssetEvent.source_run_id == run_id)
        ).all()
        extras = [event.extra for event in events]
    assert len(extras) == 1, extras
    assert [Path(urlsplit(p).path).name for p in extras[0]["paths"]] == [approved_staged[0].name]
    assert extras[0]["reviewer"] == "reviewer"


def _check_the_pending_list(reviewer: Any, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pending list counts only Evolink questions under its limit, reads no video from a broken
    ``evolink_review_of`` and keeps a question whose options are JSON null (as after a clear)."""
    import sqlalchemy as sa
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_evolink.plugins import review as gallery_review

    def pending() -> list[int]:
        with create_session() as session:
            found = gallery_review.load_reviews(session, reviewer, dag_id=DAG_ID, run_id=run_id)
        return sorted(r.map_index for r in found if r.pending)

    def ti_id(session: Any, map_index: int) -> Any:
        return session.scalar(
            select(TaskInstance.id).where(
                TaskInstance.dag_id == DAG_ID,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == "review",
                TaskInstance.map_index == map_index,
            )
        )

    assert pending() == [0, 1]
    with create_session() as session:
        # Map index 1 re-asked: options JSON null (not SQL NULL), and the newest question of all.
        session.execute(
            sa.update(HITLDetail)
            .where(HITLDetail.ti_id == ti_id(session, 1))
            .values(chosen_options=sa.JSON.NULL, created_at=sa.func.now())
        )
        # A broken marker where the gallery used to read the video from (it must not answer 500).
        XComModel.set(
            "evolink_review_of",
            {"task_id": "generate", "map_index": "x"},
            dag_id=DAG_ID,
            task_id="review",
            run_id=run_id,
            map_index=0,
            session=session,
        )
    assert pending() == [0, 1]
    # With its marker gone, map index 1 is no Evolink question; with a limit of one, the newest
    # question (it) must not push map index 0 out of the list.
    with create_session() as session:
        marker = session.execute(
            select(XComModel.value).where(
                XComModel.dag_id == DAG_ID,
                XComModel.run_id == run_id,
                XComModel.task_id == "review",
                XComModel.map_index == 1,
                XComModel.key == "evolink_review_of",
            )
        ).one()
        kept = XComModel.deserialize_value(marker)
        XComModel.clear(dag_id=DAG_ID, task_id="review", run_id=run_id, map_index=1, session=session)
    with monkeypatch.context() as patch:
        patch.setattr(gallery_review, "MAX_REVIEWS", 1)
        assert pending() == [0]
    with create_session() as session:
        XComModel.set(
            "evolink_review_of",
            kept,
            dag_id=DAG_ID,
            task_id="review",
            run_id=run_id,
            map_index=1,
            session=session,
        )
    assert pending() == [0, 1]


def _stored_paths(session: Any, run_id: str, map_index: int) -> list[str]:
    """The staged copies ``generate`` recorded for one map index."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    row = session.execute(
        select(XComModel.value).where(
            XComModel.dag_id == DAG_ID,
            XComModel.run_id == run_id,
            XComModel.task_id == "generate",
            XComModel.map_index == map_index,
            XComModel.key == "downloads",
        )
    ).one()
    return [d["path"] for d in XComModel.deserialize_value(row)]


def _task_states(dag_run: Any, task_id: str) -> dict[int, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.map_index, TaskInstance.state).where(
                TaskInstance.dag_id == dag_run.dag_id,
                TaskInstance.run_id == dag_run.run_id,
                TaskInstance.task_id == task_id,
            )
        ).all()
    return {row.map_index: str(row.state) for row in rows}

"""Publish only what a person approved: generate a batch, review each video with it playing, publish.

1. ``generate``: one mapped generation per shot; each waits for its video and stores it in the staging
   folder (``params.staging``, per run).
2. ``review``: one human-in-the-loop question per video (Airflow 3.1+), answered in Airflow's Required
   Actions form or in the gallery's review page (``/evolink/review``), where the video plays. Approve or
   Reject, with an optional note; a Reject skips that video's ``publish`` (same map index), and after
   three days without an answer the video counts as rejected.
3. ``publish``: copies an approved video, byte for byte, to ``params.published`` and updates the Asset
   ``evolink_published_videos`` (its extra names the file), so a downstream DAG can be scheduled on it.
4. ``summary``: what was published, and what stayed in staging with the reviewer's note, e.g. to append
   the note to the prompt of a second attempt.

On Airflow 3.0 (no human-in-the-loop tasks) this file fails to load with a message naming the version
it needs.
"""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, task

from airflow_evolink.operators.evolink import EvolinkSubmitVideoOperator
from airflow_evolink.operators.review import EvolinkReviewVideoOperator, staged_videos
from airflow_evolink.version_compat import ObjectStoragePath

PUBLISHED_VIDEOS = Asset("evolink_published_videos")

with DAG(
    dag_id="example_evolink_review_and_publish",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink", "example", "review"],
    params={
        "staging": "file:///tmp/evolink-review/staging",
        "published": "file:///tmp/evolink-review/published",
    },
    doc_md=__doc__,
) as dag:

    @task
    def list_shots() -> list[dict[str, str]]:
        """In a real pipeline this reads a shot list; each item becomes one video to review."""
        return [
            {"prompt": "A paper boat drifting down a rainy street, cinematic"},
            {"prompt": "A hummingbird hovering at a red flower, slow motion"},
        ]

    generate = EvolinkSubmitVideoOperator.partial(
        task_id="generate",
        model="seedance-2.0-text-to-video",
        duration=5,
        quality="720p",
        wait_for_completion=True,
        poll_interval=1,
        download_to="{{ params.staging }}/{{ run_id }}",
        map_index_template="{{ task.prompt | truncate(40, end='...') }}",
    ).expand_kwargs(list_shots())

    review = EvolinkReviewVideoOperator.partial(
        task_id="review",
        video_task_id="generate",
        map_index_template="{{ task.evolink_task_id }}",
    ).expand(evolink_task_id=generate.output)

    @task(outlets=[PUBLISHED_VIDEOS])
    def publish(
        answer: dict[str, Any], params: Any = None, outlet_events: Any = None, run_id: Any = None
    ) -> list[str]:
        """Copy one approved video to the published folder (skipped by a Reject); returns the copies.

        Only video files under this run's staging folder are copied, whatever the answer names.
        """
        if not answer.get("approved"):  # Airflow skips this on Reject; a guard if a run is cleared by hand
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException("not approved")
        folder = ObjectStoragePath(params["published"])
        folder.mkdir(parents=True, exist_ok=True)
        accepted, refused = staged_videos(answer.get("paths"), f"{params['staging']}/{run_id}")
        for path in refused:
            print(f"Not published (not a video under this run's staging folder): {path!r}")
        copies = []
        for staged in accepted:
            source = ObjectStoragePath(staged)
            target = folder / source.name
            with source.open("rb") as reader, target.open("wb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
            copies.append(str(target))
        outlet_events[PUBLISHED_VIDEOS].extra = {
            "paths": copies,
            "evolink_task_id": answer.get("evolink_task_id"),
            "reviewer": answer.get("reviewer"),
        }
        return copies

    @task(trigger_rule="none_failed")
    def summary(ti: Any = None) -> dict[str, Any]:
        """Published and rejected videos; the notes say what to change on a second attempt."""
        reviews = ti.xcom_pull(task_ids="review", key="evolink_review") or []
        published = [r for r in reviews if r and r.get("approved")]
        rejected = [
            {
                "evolink_task_id": r.get("evolink_task_id"),
                "staged": [Path(p).name for p in r.get("paths", [])],
                "note": r.get("note", ""),
            }
            for r in reviews
            if r and not r.get("approved")
        ]
        print(f"Published {len(published)} video(s); {len(rejected)} stayed in staging:")
        for item in rejected:
            print(f"  {item['evolink_task_id']} {item['staged']}: {item['note'] or '(no note)'}")
        return {"published": [r.get("evolink_task_id") for r in published], "rejected": rejected}

    publish.expand(answer=review.output) >> summary()

"""Keep the videos: generate, then copy them to durable storage before the 24-hour links expire.

The download task writes to any ObjectStoragePath (``file://``, ``s3://``, ``gs://`` ... with the matching
provider installed), atomically and idempotently, and updates the Asset ``evolink_videos``; the second DAG
below is scheduled on that Asset and runs whenever new videos land.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import DAG, Asset, task

from airflow_evolink.operators.evolink import EvolinkDownloadVideoOperator, EvolinkSubmitVideoOperator
from airflow_evolink.sensors.evolink import EvolinkVideoSensor

EVOLINK_VIDEOS = Asset("evolink_videos")

with DAG(
    dag_id="example_evolink_persist_videos",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink", "example"],
    params={"destination": "file:///tmp/evolink-videos"},
    doc_md=__doc__,
):
    submit = EvolinkSubmitVideoOperator(
        task_id="submit_video",
        model="kling-v3-image-to-video",
        prompt="A lighthouse at dawn, waves rolling in",
        image_start="https://example.com/lighthouse.jpg",
        duration=5,
    )
    wait = EvolinkVideoSensor(task_id="wait_for_video", evolink_task_id=submit.output)
    save = EvolinkDownloadVideoOperator(
        task_id="save_videos",
        evolink_task_id=submit.output,
        destination="{{ params.destination }}/{{ run_id }}",
        asset=EVOLINK_VIDEOS,
    )
    wait >> save

with DAG(
    dag_id="example_evolink_on_new_videos",
    schedule=[EVOLINK_VIDEOS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["evolink", "example"],
):

    @task(inlets=[EVOLINK_VIDEOS])
    def catalogue(triggering_asset_events=None) -> list[str]:
        """Stand-in for indexing, transcoding or publishing the new files."""
        paths = [
            path
            for events in (triggering_asset_events or {}).values()
            for event in events
            for path in event.extra.get("paths", [])
        ]
        print(f"New Evolink videos: {paths}")
        return paths

    catalogue()

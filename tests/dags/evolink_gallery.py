"""Small DAGs whose runs the gallery plugin tests read back (tests/plugins). Not examples."""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_evolink.operators.evolink import EvolinkDownloadVideoOperator, EvolinkSubmitVideoOperator
from airflow_evolink.sensors.evolink import EvolinkVideoSensor

START = datetime(2026, 1, 1)
NO_DELAY = timedelta(seconds=0)

# Submit, wait in a sensor, copy the video: three task instances that each know part of one generation.
with DAG(
    "gallery_persist",
    schedule=None,
    start_date=START,
    catchup=False,
    tags=["evolink-tests"],
    params={"destination": "file:///tmp/evolink-gallery-unused"},
):
    submit = EvolinkSubmitVideoOperator(
        task_id="submit",
        model="kling-v3-image-to-video",
        prompt="A <b>lighthouse</b> at dawn",
        image_start="https://example.com/lighthouse.png",
        duration=5,
        quality="1080p",
        retries=0,
    )
    wait = EvolinkVideoSensor(
        task_id="wait", evolink_task_id=submit.output, poll_interval=0.5, retries=0, retry_delay=NO_DELAY
    )
    save = EvolinkDownloadVideoOperator(
        task_id="save",
        evolink_task_id=submit.output,
        destination="{{ params.destination }}/{{ run_id }}",
        retries=0,
    )
    wait >> save

# Mapped submit-and-wait with no stored copy: only the live result links exist.
with DAG("gallery_mapped", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    EvolinkSubmitVideoOperator.partial(
        task_id="generate",
        model="kling-v3-image-to-video",
        image_start="https://example.com/frame.png",
        wait_for_completion=True,
        poll_interval=0.5,
        retries=0,
    ).expand(prompt=["first shot", "second shot"])

# Three generations per run, for the top page's pages (tests/plugins/test_gallery.py).
with DAG("gallery_pages", schedule=None, start_date=START, catchup=False, tags=["evolink-tests"]):
    EvolinkSubmitVideoOperator.partial(
        task_id="generate",
        model="kling-v3-text-to-video",
        wait_for_completion=True,
        poll_interval=0.5,
        retries=0,
    ).expand(prompt=["page shot one", "page shot two", "page shot three"])

"""Two triggerers running the same trigger at once (HA, or a network partition) do no harm."""

from __future__ import annotations

import asyncio
import time

from airflow_evolink.hooks.evolink import EvolinkHook
from airflow_evolink.triggers.evolink import EvolinkVideoTrigger

KLING = {"model": "kling-v3-image-to-video", "prompt": "x", "image_start": "https://example.com/a.png"}


def test_the_same_trigger_twice_at_once_gives_the_same_single_outcome(clean_emulator):
    task = EvolinkHook().submit_video(KLING)
    deadline = time.time() + 60
    original = EvolinkVideoTrigger(evolink_task_id=task.id, poll_interval=0.2, deadline=deadline)
    classpath, kwargs = original.serialize()
    assert classpath == "airflow_evolink.triggers.evolink.EvolinkVideoTrigger"
    twins = [EvolinkVideoTrigger(**kwargs), EvolinkVideoTrigger(**kwargs)]

    async def run_both() -> list[list[dict]]:
        async def collect(trigger: EvolinkVideoTrigger) -> list[dict]:
            return [event.payload async for event in trigger.run()]

        return list(await asyncio.gather(*(collect(t) for t in twins)))

    first, second = asyncio.run(run_both())
    assert len(first) == len(second) == 1
    assert first[0]["status"] == second[0]["status"] == "success"
    assert first[0]["result_urls"] == second[0]["result_urls"]
    assert all(t.deadline == deadline for t in twins)
    stats = clean_emulator.state.stats()
    assert stats["tasks_created"] == 1
    assert stats["by_route"].get("POST /v1/videos/generations") == 1

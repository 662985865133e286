"""HTML rendering for the gallery: one autoescaping jinja2 environment and the formatting people read.

Every value on a page comes from XComs that tasks wrote (prompts, error messages, URLs), so autoescaping
is on for every template, and links are built here with their path segments quoted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape

from airflow_evolink.core.account import format_credits
from airflow_evolink.plugins.generations import (
    MAX_ITEMS_PER_TASK_INSTANCE,
    Generation,
    TaskInstanceInfo,
    Video,
)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("airflow_evolink.plugins", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["max_items"] = MAX_ITEMS_PER_TASK_INSTANCE
    env.filters["credits"] = format_credits
    env.filters["when"] = format_time
    env.filters["took"] = format_timedelta
    env.filters["seconds"] = format_seconds
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def format_time(value: datetime | None) -> str:
    if value is None:
        return "unknown"
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_timedelta(value: timedelta | None) -> str:
    if value is None:
        return "unknown"
    return format_seconds(value.total_seconds())


def format_seconds(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "unknown"
    total = round(value)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {seconds:02d} s"
    if minutes:
        return f"{minutes} min {seconds:02d} s"
    return f"{seconds} s"


class Links:
    """URLs of the gallery's own pages, below the mount point the request arrived through."""

    def __init__(self, root_path: str) -> None:
        self.root = root_path.rstrip("/")

    def _path(self, *segments: str, **query: Any) -> str:
        path = "/".join(quote(segment, safe="") for segment in segments)
        params = {k: v for k, v in query.items() if v is not None}
        return f"{self.root}/{path}" + (f"?{urlencode(params)}" if params else "")

    def home(self, **query: Any) -> str:
        return self._path("", **query)

    def run(self, dag_id: str, run_id: str) -> str:
        return self._path("dags", dag_id, "runs", run_id)

    def task(self, dag_id: str, run_id: str, ti: TaskInstanceInfo) -> str:
        return self._path("dags", dag_id, "runs", run_id, "tasks", ti.task_id, map_index=ti.map_index)

    def video(self, dag_id: str, run_id: str, ti: TaskInstanceInfo, n: int) -> str:
        return self._path(
            "dags", dag_id, "runs", run_id, "tasks", ti.task_id, "video", map_index=ti.map_index, n=n
        )


def task_instance_videos(
    generations: Sequence[Generation], task_id: str, map_index: int
) -> list[tuple[Generation, Video]]:
    """The videos of one task instance, numbered as the video route numbers them (``n``)."""
    return [
        (generation, video)
        for generation in generations
        if generation.belongs_to(task_id, map_index)
        for video in generation.videos
    ]


def card(generation: Generation, run_generations: Sequence[Generation], links: Links) -> dict[str, Any]:
    """What a generation card needs besides the generation: its links and its link expiry."""
    owner = generation.owner
    numbered = task_instance_videos(run_generations, owner.task_id, owner.map_index)
    videos = [
        {"src": links.video(generation.dag_id, generation.run_id, owner, n), "video": video}
        for n, (other, video) in enumerate(numbered)
        if other is generation
    ]
    expiry = generation.link_expiry()
    live_only = bool(generation.result_urls) and not generation.has_stored_copy
    return {
        "g": generation,
        "videos": videos,
        "run_link": links.run(generation.dag_id, generation.run_id),
        "task_links": [
            (ti, links.task(generation.dag_id, generation.run_id, ti)) for ti in generation.task_instances
        ],
        "expiry": expiry if live_only else None,
        "expired": bool(live_only and expiry and expiry <= datetime.now(timezone.utc)),
    }

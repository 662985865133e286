"""Moved to :mod:`airflow_evolink.links.evolink` (sensors and task-side helpers use them too); kept so
existing imports work."""

from __future__ import annotations

from airflow_evolink.links.evolink import (
    GALLERY_AVAILABLE,
    GALLERY_PREFIX,
    LINKS_ATTRIBUTE,
    EvolinkTaskLink,
    EvolinkVideoLink,
    gallery_path,
    push_link,
    task_and_video_links,
    task_link_only,
)

__all__ = [
    "GALLERY_AVAILABLE",
    "GALLERY_PREFIX",
    "LINKS_ATTRIBUTE",
    "EvolinkTaskLink",
    "EvolinkVideoLink",
    "gallery_path",
    "push_link",
    "task_and_video_links",
    "task_link_only",
]

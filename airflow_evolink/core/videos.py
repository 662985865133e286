"""Which file names are videos: the names a published video may have and the gallery plays.

One rule for the review operator (which stored copies it records) and the gallery (which files it serves),
so a video one accepts the other never refuses.
"""

from __future__ import annotations

#: The video extensions; only these are served: a ``downloads`` XCom can be written by anyone who may edit
#: XComs, and must not turn the api-server into a reader of its own files (configs, keys).
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".webm", ".mkv"})


def is_video_name(name: str) -> bool:
    """Whether a file's name ends with a video extension (case-insensitive), after a non-empty stem."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in VIDEO_SUFFIXES

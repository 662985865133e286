"""A clock that tests can move forward instead of sleeping."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Clock:
    """Monotonic time plus a manual offset.

    Job timelines, result expiry and the rate limiter all read this clock, so `advance(60)` makes a
    60 s job finish at once. `source` is injectable for tests that want full control of time.
    """

    def __init__(
        self,
        source: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._wall = wall
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """Monotonic seconds, including every advance so far."""
        return self._source() + self._offset

    def wall(self) -> float:
        """Unix seconds, shifted by the same offset (used for `created` and task ids)."""
        return self._wall() + self._offset

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move time forward; returns the total offset. Time never goes backwards."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0

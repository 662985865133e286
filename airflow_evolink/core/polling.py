"""When to poll a task next.

A fixed ``poll_interval`` is the user's explicit choice. Without one, the schedule adapts, aiming to see the
end of a job of length ``L`` at most ``max(min_lag, lag_fraction * L)`` seconds late (5 s, or 5 %) with
as few GETs as it can:

* A job that has run ``t`` seconds cannot end before ``t``, so a wait of ``max(min_lag, lag_fraction * t)``
  always keeps that promise. Every wait may be at least that long; it is what the schedule falls back to
  as progress nears 100.
* While progress has not moved, most of the reported ``estimated_time`` is waited first.
* Once progress moves, it projects the time left and waits a share of it, so waits shrink geometrically
  towards the end; the share leaves room for progress that rises unevenly or started late (a task that
  queued as ``pending``).
* Evidence is never stretched far beyond what has been seen: a wait is at most ``growth`` times the time
  the job has already run, so an estimate ten times too high still lets a short job be caught early.
* Waits stay within ``[min_interval, max_interval]``. Jitter only shortens a wait, so a batch of sensors
  spreads out without adding lag.

``benchmarks/bench_poll_schedule.py`` checks the promise and counts the GETs against fixed 10 s polling
for jobs of 30 s to 40 min, with accurate and ±50 % wrong estimates and linear or uneven progress.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol


class TaskProgress(Protocol):
    """What the schedule reads from a task: an :class:`~airflow_evolink.core.task.EvolinkTask` or the
    lighter :class:`~airflow_evolink.core.task.TaskState` a poll loop builds for every answer."""

    @property
    def progress(self) -> int: ...

    @property
    def estimated_time(self) -> float | None: ...

    @property
    def created(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class PollSchedule:
    """How to space polls. Plain values, so triggers can serialize it.

    :param poll_interval: a fixed interval; when set, every other field is ignored.
    :param min_interval: the shortest adaptive wait.
    :param max_interval: the longest adaptive wait.
    :param lag_fraction: with ``min_lag``, the detection lag aimed at: ``max(min_lag, lag_fraction * L)``.
    :param min_lag: see ``lag_fraction``.
    :param jitter: the largest share by which a wait is randomly shortened.
    :param estimate_share: the share of the remaining ``estimated_time`` waited while progress is unknown.
    :param progress_share: the share of the remaining time projected from progress waited once it moves.
    :param growth: a wait is at most this multiple of the time the job has run (at least ``min_lag``).
    """

    poll_interval: float | None = None
    min_interval: float = 2.0
    max_interval: float = 60.0
    lag_fraction: float = 0.05
    min_lag: float = 5.0
    jitter: float = 0.15
    estimate_share: float = 0.8
    progress_share: float = 0.45
    growth: float = 1.5

    def next_delay(
        self, task: TaskProgress | None, elapsed: float, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait before the next GET, given the last task seen and seconds since submission."""
        if self.poll_interval is not None:
            return max(0.0, float(self.poll_interval))
        elapsed = max(0.0, elapsed)
        progress = min(task.progress, 100) if task is not None else 0
        room: float | None
        if progress >= KNOWN_PROGRESS:
            # The time left if progress keeps its average pace; it is reported rounded down, hence + 1.
            room = self.progress_share * elapsed * (99 - progress) / (progress + 1)
        elif task is not None and task.estimated_time:
            room = self.estimate_share * (task.estimated_time - elapsed)
        else:
            room = None
        if room is None:
            # Nothing known yet: the wait grows slowly with the time already spent.
            delay = self.min_lag + 0.1 * elapsed
        else:
            safe = max(self.min_lag, self.lag_fraction * elapsed)
            delay = max(safe, min(room, self.growth * max(elapsed, self.min_lag)))
        draw = (rng or random).random()
        delay *= 1.0 - self.jitter * draw
        return min(self.max_interval, max(self.min_interval, delay))


#: Below this, reported progress is too coarse (and may have started late) to project from.
KNOWN_PROGRESS = 5


def _progress_known(task: TaskProgress | None) -> bool:
    return task is not None and task.progress >= KNOWN_PROGRESS


def projected_remaining(task: TaskProgress | None, elapsed: float) -> float | None:
    """Seconds the job probably still needs, from progress when it has moved, else from the estimate."""
    if task is None:
        return None
    if _progress_known(task) and elapsed > 0:
        total = elapsed * 100.0 / task.progress
        return max(0.0, total - elapsed)
    if task.estimated_time:
        return max(0.0, task.estimated_time - elapsed)
    return None


def elapsed_since_submit(task: TaskProgress | None, now: float, started_at: float) -> float:
    """Seconds the job has run: from the task's ``created`` stamp when known, else from ``started_at``."""
    since_start = max(0.0, now - started_at)
    if task is not None and task.created:
        return max(since_start, now - task.created)
    return since_start

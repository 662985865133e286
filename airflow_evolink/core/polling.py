"""When to poll a task next.

A fixed ``poll_interval`` is the user's explicit choice. Without one, the schedule adapts: it projects the
time left from the reported progress (or ``estimated_time``), waits a good part of it, and polls more
often as the job nears its end, never less often than ``max_interval`` and never more often than
``min_interval``. Jitter only shortens a wait, so a batch of sensors spreads out without adding lag.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from airflow_evolink.core.task import EvolinkTask


@dataclass(frozen=True)
class PollSchedule:
    """How to space polls. Plain values, so triggers can serialize it."""

    poll_interval: float | None = None
    min_interval: float = 2.0
    max_interval: float = 60.0
    lag_fraction: float = 0.05
    min_lag: float = 5.0
    jitter: float = 0.15

    def next_delay(self, task: EvolinkTask | None, elapsed: float, rng: random.Random | None = None) -> float:
        """Seconds to wait before the next GET, given the last task seen and seconds since submission."""
        if self.poll_interval is not None:
            return max(0.0, float(self.poll_interval))
        remaining = projected_remaining(task, elapsed)
        # Until progress moves, the estimate alone is not trusted (it may be far too high): the wait
        # grows with the time already spent, so a short job is still caught early.
        cautious = self.min_lag + 0.1 * elapsed
        if remaining is None:
            delay = cautious
        else:
            lag_budget = max(self.min_lag, self.lag_fraction * (elapsed + max(remaining, 0.0)))
            delay = max(0.5 * remaining, lag_budget)
            if not _progress_known(task):
                delay = min(delay, cautious)
        draw = (rng or random).random()
        delay *= 1.0 - self.jitter * draw
        return min(self.max_interval, max(self.min_interval, delay))


def _progress_known(task: EvolinkTask | None) -> bool:
    return task is not None and task.progress >= 5


def projected_remaining(task: EvolinkTask | None, elapsed: float) -> float | None:
    """Seconds the job probably still needs, from progress when it has moved, else from the estimate."""
    if task is None:
        return None
    if _progress_known(task) and elapsed > 0:
        total = elapsed * 100.0 / task.progress
        return max(0.0, total - elapsed)
    if task.estimated_time:
        return max(0.0, task.estimated_time - elapsed)
    return None


def elapsed_since_submit(task: EvolinkTask | None, now: float, started_at: float) -> float:
    """Seconds the job has run: from the task's ``created`` stamp when known, else from ``started_at``."""
    since_start = max(0.0, now - started_at)
    if task is not None and task.created:
        return max(since_start, now - task.created)
    return since_start

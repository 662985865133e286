"""Task states and the terminal set shared by the hook, operator, sensor and trigger."""

from __future__ import annotations

from enum import Enum


class TaskStatus(str, Enum):
    """The state of an Evolink task.

    The API documents four statuses, but callbacks also fire for ``cancelled`` tasks. Any other value is
    mapped to ``UNKNOWN`` and treated as terminal, as the API notes advise, so that a new status can never
    leave a sensor polling forever.
    """

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @classmethod
    def parse(cls, raw: object) -> TaskStatus:
        if type(raw) is str:  # the usual answer, already lower case: one look-up, once per poll
            known = _ALIASES.get(raw)
            if known is not None:
                return known
        text = str(raw or "").strip().lower()
        if text in _ALIASES:
            return _ALIASES[text]
        return cls.UNKNOWN

    @property
    def is_terminal(self) -> bool:
        # Everything but the two running states ends a wait (see TERMINAL_STATUSES). Identity checks:
        # Enum hashes members in Python code, and this runs once per poll.
        return self is not TaskStatus.PENDING and self is not TaskStatus.PROCESSING

    @property
    def is_success(self) -> bool:
        return self is TaskStatus.COMPLETED


_ALIASES: dict[str, TaskStatus] = {
    "pending": TaskStatus.PENDING,
    "queued": TaskStatus.PENDING,
    "submitted": TaskStatus.PENDING,
    "processing": TaskStatus.PROCESSING,
    "running": TaskStatus.PROCESSING,
    "in_progress": TaskStatus.PROCESSING,
    "completed": TaskStatus.COMPLETED,
    "succeeded": TaskStatus.COMPLETED,
    "success": TaskStatus.COMPLETED,
    "failed": TaskStatus.FAILED,
    "error": TaskStatus.FAILED,
    "cancelled": TaskStatus.CANCELLED,
    "canceled": TaskStatus.CANCELLED,
}

TERMINAL_STATUSES: frozenset[TaskStatus] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.UNKNOWN}
)

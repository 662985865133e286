"""Task states and the terminal set shared by the hook, operator, sensor and trigger."""

from __future__ import annotations

from enum import Enum


class TaskStatus(str, Enum):
    """The state of an Evolink task.

    Only ``completed``, ``failed`` and ``cancelled`` end a task, in any case: that is the terminal set of
    Evolink's own client (evolink-cli ``tools/task-format.js``, ``TERMINAL_STATUSES``), which keeps polling
    anything else. A status the provider does not list is therefore ``UNKNOWN`` and *still running*:
    failing a live, paid job because the API grew a new interim state would waste it, and the wait's
    timeout still bounds how long an unknown state is polled.
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
            known = _STATUSES.get(raw)
            if known is not None:
                return known
        text = str(raw or "").strip().lower()
        return _STATUSES.get(text, cls.UNKNOWN)

    @property
    def is_terminal(self) -> bool:
        # Identity checks: Enum hashes members in Python code, and this runs once per poll.
        return self is TaskStatus.COMPLETED or self is TaskStatus.FAILED or self is TaskStatus.CANCELLED

    @property
    def is_success(self) -> bool:
        return self is TaskStatus.COMPLETED

    @property
    def is_listed(self) -> bool:
        """Whether the API documents this status; an unlisted one is logged once as a warning."""
        return self is not TaskStatus.UNKNOWN


# The statuses the API documents (docs.evolink.ai get-task-detail: pending, processing, completed, failed)
# plus ``cancelled`` (evolink-cli task-format.js). No other spelling ends a wait.
_STATUSES: dict[str, TaskStatus] = {
    "pending": TaskStatus.PENDING,
    "processing": TaskStatus.PROCESSING,
    "completed": TaskStatus.COMPLETED,
    "failed": TaskStatus.FAILED,
    "cancelled": TaskStatus.CANCELLED,
}

TERMINAL_STATUSES: frozenset[TaskStatus] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED}
)

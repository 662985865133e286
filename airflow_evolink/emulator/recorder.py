"""The request log and counters that tests read to check what a client really sent."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class RequestRecord:
    """One answered (or deliberately dropped) request; `status` is 0 when the connection was reset."""

    time: float
    method: str
    path: str
    route: str
    status: int
    request_id: str
    idempotency_key: str | None = None
    task_id: str | None = None
    task_created: bool = False
    #: The price reserved by a create POST, in credits and in UC.
    credits_charged: int | float = 0
    uc_charged: int = 0
    replay: bool = False
    fault: str | None = None
    #: The JSON body of a create-task POST as the emulator decoded it (None for other requests).
    body: Any = None
    #: Whether the request carried an Authorization header (the public pricing routes need none).
    authorization: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Recorder:
    """Keeps the last `limit` records; the counters cover every request. Callers hold the state lock."""

    def __init__(self, limit: int) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=limit)
        self.by_route: Counter[str] = Counter()
        self.by_status: Counter[int] = Counter()
        self.tasks_created = 0
        self.replayed_posts = 0
        self.faults_applied = 0
        self.rate_limited = 0

    def add(self, record: RequestRecord) -> None:
        self.records.append(record)
        self.by_route[f"{record.method} {record.route}"] += 1
        self.by_status[record.status] += 1
        self.tasks_created += record.task_created
        self.replayed_posts += record.replay
        self.faults_applied += record.fault is not None
        self.rate_limited += record.status == 429 and record.fault is None

    def stats(self) -> dict[str, Any]:
        return {
            "requests": sum(self.by_route.values()),
            "by_route": dict(self.by_route),
            "by_status": {str(status): n for status, n in self.by_status.items()},
            "tasks_created": self.tasks_created,
            "paid_posts": self.tasks_created,
            "replayed_posts": self.replayed_posts,
            "faults_applied": self.faults_applied,
            "rate_limited": self.rate_limited,
        }

    def clear(self) -> None:
        self.records.clear()
        self.by_route.clear()
        self.by_status.clear()
        self.tasks_created = self.replayed_posts = self.faults_applied = self.rate_limited = 0

"""Tasks and their timeline: pending, then processing, then a final status at `job_seconds`."""

from __future__ import annotations

import math
import random
import string
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from airflow_evolink.emulator.clock import Clock
from airflow_evolink.emulator.config import EmulatorConfig
from airflow_evolink.emulator.validation import ValidRequest

#: Share of the job time a task stays `pending` before it starts `processing`.
PENDING_SHARE = 0.1

DEFAULT_MESSAGES: dict[str, str] = {
    "content_policy_violation": "The request was blocked by the content safety filter",
    "invalid_parameters": "The model rejected the parameters",
    "image_processing_error": "The input image could not be processed",
    "image_dimension_mismatch": "The input image does not match the requested aspect ratio",
    "request_cancelled": "The task was cancelled",
    "resource_not_found": "The task was not found or has expired",
    "generation_failed_no_content": "The model produced no output",
    "service_error": "Internal service error, please retry later",
    "generation_timeout": "The generation timed out",
    "resource_exhausted": "Upstream capacity is exhausted, please retry later",
    "quota_exceeded": "Rate limit or quota exceeded",
    "service_unavailable": "The service is temporarily unavailable",
    "unknown_error": "Unknown error",
}

_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class JobOverride:
    """How the next `count` created jobs end, set through the fault API."""

    status: str | None = None
    error: dict[str, str] | None = None
    results: bool = True
    job_seconds: float | None = None
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("count must be >= 1")
        if self.job_seconds is not None and self.job_seconds < 0:
            raise ValueError("job_seconds must be >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "results": self.results,
            "job_seconds": self.job_seconds,
            "count": self.count,
        }


@dataclass
class Job:
    """One task; its status is computed from the clock, so nothing runs in the background."""

    id: str
    model: str
    created: int
    started: float
    job_seconds: float
    duration: int
    credits: int
    billing_rule: str
    final_status: str
    error: dict[str, str] | None
    with_results: bool
    callback_url: str | None
    api_key: str
    expires_at: float | None = field(default=None)

    @property
    def finished_at(self) -> float:
        return self.started + self.job_seconds

    def status_at(self, now: float) -> tuple[str, int]:
        """(status, progress) at monotonic time `now`."""
        elapsed = now - self.started
        if elapsed >= self.job_seconds:
            return self.final_status, 100
        pending_for = self.job_seconds * PENDING_SHARE
        if elapsed < pending_for:
            return "pending", 0
        share = (elapsed - pending_for) / (self.job_seconds - pending_for)
        return "processing", min(99, 1 + int(98 * share))

    def view(self, now: float, base_url: str, *, initial: bool = False) -> dict[str, Any]:
        """The GET /v1/tasks/{id} body; `initial` gives the create response, which is always pending."""
        status, progress = ("pending", 0) if initial else self.status_at(now)
        running = status in ("pending", "processing")
        task_info: dict[str, Any] = {"can_cancel": running}
        if running:
            task_info["estimated_time"] = max(1, math.ceil(self.finished_at - max(now, self.started)))
        task_info["video_duration"] = self.duration
        body: dict[str, Any] = {
            "created": self.created,
            "id": self.id,
            "model": self.model,
            "object": "video.generation.task",
            "progress": progress,
            "status": status,
            "task_info": task_info,
            "type": "video",
            "usage": {
                "billing_rule": self.billing_rule,
                "credits_reserved": self.credits,
                "user_group": "default",
            },
        }
        if status == "completed":
            body["results"] = [self.result_url(base_url)] if self.with_results else []
        if self.error is not None and not running:
            body["error"] = dict(self.error)
        return body

    def result_url(self, base_url: str) -> str:
        return f"{base_url}/files/{self.id}.mp4"

    def result_state(self, now: float, ttl: float) -> str:
        """`ready`, `expired` or `missing` (not finished, failed, or completed without results)."""
        if self.final_status != "completed" or not self.with_results or now < self.finished_at:
            return "missing"
        expires_at = self.expires_at if self.expires_at is not None else self.finished_at + ttl
        return "expired" if now >= expires_at else "ready"


class JobStore:
    """Creates jobs and applies queued outcome overrides. Callers hold the state lock."""

    def __init__(self, config: EmulatorConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._rng = random.Random(config.seed)
        self.jobs: dict[str, Job] = {}
        self.overrides: deque[JobOverride] = deque()

    def create(self, request: ValidRequest, api_key: str) -> Job:
        created = int(self._clock.wall())
        override = self._take_override()
        status, error, with_results = "completed", None, True
        job_seconds = self._config.job_seconds
        if override is not None:
            status = override.status or status
            error = override.error
            with_results = override.results
            job_seconds = override.job_seconds if override.job_seconds is not None else job_seconds
        elif self._config.fail_rate and self._rng.random() < self._config.fail_rate:
            status = "failed"
            error = make_error(self._config.fail_code)
        if status == "failed" and error is None:
            error = make_error("unknown_error")
        job = Job(
            id=self._new_id(created),
            model=request.model,
            created=created,
            started=self._clock.now(),
            job_seconds=job_seconds,
            duration=request.duration,
            credits=request.credits,
            billing_rule=request.rule.billing_rule,
            final_status=status,
            error=error,
            with_results=with_results,
            callback_url=request.callback_url,
            api_key=api_key,
        )
        self.jobs[job.id] = job
        return job

    def get(self, task_id: str) -> Job | None:
        return self.jobs.get(task_id)

    def add_override(self, override: JobOverride) -> None:
        if override.status == "failed" and override.error is None:
            override.error = make_error("unknown_error")
        self.overrides.append(override)

    def expire_results_now(self) -> int:
        """Expire the result links of every job finished by now; returns how many."""
        now = self._clock.now()
        expired = 0
        for job in self.jobs.values():
            if job.result_state(now, self._config.result_ttl_seconds) == "ready":
                job.expires_at = now
                expired += 1
        return expired

    def clear(self) -> None:
        self.jobs.clear()
        self.overrides.clear()
        self._rng = random.Random(self._config.seed)

    def _take_override(self) -> JobOverride | None:
        if not self.overrides:
            return None
        head = self.overrides[0]
        head.count -= 1
        if head.count <= 0:
            self.overrides.popleft()
        return head

    def _new_id(self, created: int) -> str:
        while True:
            suffix = "".join(self._rng.choices(_SUFFIX_ALPHABET, k=8))
            task_id = f"task-unified-{created}-{suffix}"
            if task_id not in self.jobs:
                return task_id


def make_error(code: str, message: str | None = None) -> dict[str, str]:
    """A task `error` object; the message defaults to a readable one for known codes."""
    return {"code": code, "message": message or DEFAULT_MESSAGES.get(code, "The task failed")}

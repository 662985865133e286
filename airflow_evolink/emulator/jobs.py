"""Tasks and their timeline: pending, [an unlisted interim status,] processing, then a final status.

The status is computed from the clock, so nothing runs in the background. A finished task looks as the
real API shows it: result links in one of several shapes (`config.RESULT_SHAPES`), the charge as
`usage.credits_used` or `usage.cost{credits, usd}` (in credits), and the ledger facts in
`billing{refund_scope, charge_status, refund_status, reserved_credits, charged_credits, refunded_credits,
refunded_at}` (as Evolink's own client reads it: evolink-cli `tools/task-billing.js`): `reserved` while it
runs, `charged` when it completes, `released` with a completed refund when it fails or is cancelled (the
reservation goes back).

`usage.credits_reserved` is the price in UC, as the kling-v3 doc page shows it (`270000` for a clip whose
published price is 27 credits). The live API's unit for that field is not settled; clients must show it
as given, never convert it. Every other figure (`credits_used`, `cost.credits`, `billing.*_credits`) is
in credits.
"""

from __future__ import annotations

import heapq
import math
import random
import string
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from airflow_evolink.emulator.clock import Clock
from airflow_evolink.emulator.config import (
    COST_SHAPES,
    MIXED,
    PENDING_SHARE,
    RESULT_SHAPES,
    EmulatorConfig,
    check_interim,
    check_shapes,
)
from airflow_evolink.emulator.pricing import credits_figure, usd_figure
from airflow_evolink.emulator.validation import ValidRequest

#: `billing.refund_scope`: a refund goes back to the account balance.
REFUND_SCOPE = "account_balance"
#: How long the `draft_expires_at` extra field lies after `created`.
DRAFT_TTL_SECONDS = 86_400

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
    """How the next `count` created jobs end and look, set through the fault API.

    `None` fields keep the config's choice. `interim_status`/`interim_share` give the job an unlisted
    status between pending and processing; `result_shape`, `cost_shape` and `extra_fields` choose how its
    body looks (see config.py).
    """

    status: str | None = None
    error: dict[str, str] | None = None
    results: bool = True
    job_seconds: float | None = None
    count: int = 1
    result_shape: str | None = None
    cost_shape: str | None = None
    extra_fields: bool | None = None
    interim_status: str | None = None
    interim_share: float | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("count must be >= 1")
        if self.job_seconds is not None and self.job_seconds < 0:
            raise ValueError("job_seconds must be >= 0")
        check_shapes(self.result_shape, self.cost_shape)
        check_interim(self.interim_share, self.interim_status)
        if self.error is None and self.status == "failed":
            self.error = make_error("unknown_error")
        if self.error is None and self.status == "cancelled":
            self.error = make_error("request_cancelled")

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "results": self.results,
            "job_seconds": self.job_seconds,
            "count": self.count,
            "result_shape": self.result_shape,
            "cost_shape": self.cost_shape,
            "extra_fields": self.extra_fields,
            "interim_status": self.interim_status,
            "interim_share": self.interim_share,
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
    #: The price in UC (what the emulator's published rules say for the request).
    uc: int
    billing_rule: str
    final_status: str
    error: dict[str, str] | None
    with_results: bool
    callback_url: str | None
    api_key: str
    expires_at: float | None = field(default=None)
    #: When a single GET last read the task (the real gateway syncs an unfinished task on such reads).
    synced_at: float | None = field(default=None)
    interim_status: str = "in_queue"
    interim_share: float = 0.0
    result_shape: str = "results"
    cost_shape: str = "credits_used"
    extra_fields: bool = False
    #: Set once the job has ended and its reservation was kept (completed) or refunded.
    settled: bool = False

    @property
    def finished_at(self) -> float:
        return self.started + self.job_seconds

    @property
    def credits(self) -> int | float:
        """The price in credits."""
        return credits_figure(self.uc)

    @property
    def charged(self) -> bool:
        """Only a completed task is paid for; every other ending is refunded."""
        return self.final_status == "completed"

    def ended(self, now: float) -> bool:
        """Whether the job shows its final status at monotonic time `now`."""
        return now - self.started >= self.job_seconds

    def status_at(self, now: float) -> tuple[str, int]:
        """(status, progress) at monotonic time `now`."""
        if self.ended(now):
            return self.final_status, 100
        elapsed = now - self.started
        pending_for = self.job_seconds * PENDING_SHARE
        if elapsed < pending_for:
            return "pending", 0
        interim_until = pending_for + self.job_seconds * self.interim_share
        if elapsed < interim_until:
            return self.interim_status, 0
        share = (elapsed - interim_until) / (self.job_seconds - interim_until)
        return "processing", min(99, 1 + int(98 * share))

    def view(self, now: float, base_url: str, *, initial: bool = False) -> dict[str, Any]:
        """The GET /v1/tasks/{id} body; `initial` gives the create response, which is always pending."""
        done = not initial and self.ended(now)
        status, progress = ("pending", 0) if initial else self.status_at(now)
        task_info: dict[str, Any] = {"can_cancel": not done}
        if not done:
            task_info["estimated_time"] = max(1, math.ceil(self.finished_at - max(now, self.started)))
        task_info["video_duration"] = self.duration
        usage: dict[str, Any] = {
            "billing_rule": self.billing_rule,
            "credits_reserved": self.uc,  # as the kling-v3 doc page shows it (see the module docstring)
            "user_group": "default",
        }
        body: dict[str, Any] = {
            "created": self.created,
            "id": self.id,
            "model": self.model,
            "object": "video.generation.task",
            "progress": progress,
            "status": status,
            "task_info": task_info,
            "type": "video",
            "usage": usage,
        }
        if self.extra_fields:
            body["draft_expires_at"] = self.created + DRAFT_TTL_SECONDS
            body["video_duration"] = self.duration
        body["billing"] = self.billing(done)
        if not done:
            return body
        if self.charged:
            body.update(self._results(base_url))
            if self.cost_shape == "cost":
                usage["cost"] = {"credits": self.credits, "usd": usd_figure(self.uc)}
            else:
                usage["credits_used"] = self.credits
        if self.error is not None:
            error: dict[str, Any] = dict(self.error)
            if self.extra_fields:
                error.setdefault("suggestion", "Check the task's billing state before submitting again")
            body["error"] = error
        return body

    def billing(self, done: bool) -> dict[str, Any]:
        """The task's ledger facts: reserved while it runs, then charged or released (refunded)."""
        billing: dict[str, Any] = {
            "refund_scope": REFUND_SCOPE,
            "charge_status": "reserved",
            "refund_status": "unknown",
            "reserved_credits": self.credits,
            "charged_credits": 0,
            "refunded_credits": 0,
            "refunded_at": None,
        }
        if done and self.charged:
            billing.update(
                charge_status="charged", refund_status="not_required", charged_credits=self.credits
            )
        elif done:
            billing.update(
                charge_status="released",
                refund_status="completed",
                refunded_credits=self.credits,
                refunded_at=_iso(self.created + self.job_seconds),
            )
        return billing

    def _results(self, base_url: str) -> dict[str, Any]:
        """The result links in this job's shape; a job without results shows an empty list or nothing."""
        shape = self.result_shape
        if not self.with_results:
            if shape == "results":
                return {"results": []}
            return {"result_data": []} if shape == "result_data_list" else {}
        url = self.result_url(base_url)
        if shape == "result_data_list":
            return {"result_data": [{"video_url": url}]}
        if shape == "result_data_object":
            return {"result_data": {"video_url": url}}
        if shape == "output":
            return {"output": {"video_url": url}}
        if shape == "video_url":
            return {"video_url": url}
        return {"results": [url]}

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
        #: (finished_at, id) of jobs not yet settled, earliest first.
        self._unsettled: list[tuple[float, str]] = []

    def create(self, request: ValidRequest, api_key: str, input_error: dict[str, str] | None = None) -> Job:
        """A new job; ``input_error`` (an input it could not fetch, see inputs.py) fails it whatever
        outcome was queued for it."""
        config = self._config
        created = int(self._clock.wall())
        taken = self._take_override()
        override = taken or JobOverride()
        status, error, with_results = "completed", None, True
        if input_error is not None:
            status, error = "failed", dict(input_error)
        elif taken is not None:
            status = taken.status or status
            error = taken.error
            with_results = taken.results
        elif config.fail_rate and self._rng.random() < config.fail_rate:
            status = "failed"
            error = make_error(config.fail_code)
        job_seconds = _first(override.job_seconds, config.job_seconds)
        if status == "failed" and error is None:
            error = make_error("unknown_error")
        job = Job(
            id=self._new_id(created),
            model=request.model,
            created=created,
            started=self._clock.now(),
            job_seconds=job_seconds,
            duration=request.duration,
            uc=request.uc,
            billing_rule=request.rule.billing_rule,
            final_status=status,
            error=error,
            with_results=with_results,
            callback_url=request.callback_url,
            api_key=api_key,
            interim_status=override.interim_status or config.interim_status,
            interim_share=_first(override.interim_share, config.interim_share),
            result_shape=self._pick(override.result_shape or config.result_shape, RESULT_SHAPES),
            cost_shape=self._pick(override.cost_shape or config.cost_shape, COST_SHAPES),
            extra_fields=(
                override.extra_fields if override.extra_fields is not None else self._extra_fields()
            ),
        )
        self.jobs[job.id] = job
        heapq.heappush(self._unsettled, (job.finished_at, job.id))
        return job

    def get(self, task_id: str) -> Job | None:
        return self.jobs.get(task_id)

    def settle_due(self, now: float) -> list[Job]:
        """Jobs that have ended by `now` and were not settled yet, now marked settled."""
        due: list[Job] = []
        while self._unsettled:
            task_id = self._unsettled[0][1]
            job = self.jobs.get(task_id)
            if job is not None and not job.ended(now):
                break
            heapq.heappop(self._unsettled)
            if job is not None and not job.settled:
                job.settled = True
                due.append(job)
        return due

    def add_override(self, override: JobOverride) -> None:
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
        self._unsettled.clear()
        self._rng = random.Random(self._config.seed)

    def _take_override(self) -> JobOverride | None:
        if not self.overrides:
            return None
        head = self.overrides[0]
        head.count -= 1
        if head.count <= 0:
            self.overrides.popleft()
        return head

    def _pick(self, shape: str, shapes: frozenset[str]) -> str:
        """`shape`, or for "mixed" one of `shapes` chosen by the seeded generator."""
        return self._rng.choice(sorted(shapes)) if shape == MIXED else shape

    def _extra_fields(self) -> bool:
        share = self._config.extra_fields
        if share <= 0.0 or share >= 1.0:
            return share >= 1.0  # no draw, so seeded task ids stay as they were
        return self._rng.random() < share

    def _new_id(self, created: int) -> str:
        while True:
            suffix = "".join(self._rng.choices(_SUFFIX_ALPHABET, k=8))
            task_id = f"task-unified-{created}-{suffix}"
            if task_id not in self.jobs:
                return task_id


def _iso(wall: float) -> str:
    """``2026-12-05T06:09:12Z``: the form Evolink's client accepts for ``refunded_at``."""
    return datetime.fromtimestamp(wall, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _first(value: float | None, default: float) -> float:
    return default if value is None else value


def make_error(code: str, message: str | None = None) -> dict[str, str]:
    """A task `error` object; the message defaults to a readable one for known codes."""
    return {"code": code, "message": message or DEFAULT_MESSAGES.get(code, "The task failed")}

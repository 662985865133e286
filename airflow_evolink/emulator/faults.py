"""Fault injection: HTTP-level faults matched per request, and outcome overrides for the next jobs."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

from airflow_evolink.emulator.config import CREATE_PATH
from airflow_evolink.emulator.jobs import JobOverride, JobStore, make_error

KINDS = frozenset({"status", "truncated", "non_json", "delay", "reset"})
BODIES = frozenset({"json", "html", "success_false"})
#: The file service's upload routes (the trailing slash keeps the receipts route out).
UPLOAD_PATH = "/api/v1/files/upload/"

#: Named rules for the control API (`{"preset": name, "count": n}`) and the CLI (`--fault name`).
#: The `*-after-create` ones create and charge the task, then lose the answer: a client must retry
#: with the same Idempotency-Key, which the ledger replays.
PRESETS: dict[str, dict[str, Any]] = {
    "post-502-after-create": {
        "kind": "status",
        "status": 502,
        "method": "POST",
        "path": CREATE_PATH,
        "after_processing": True,
    },
    "post-reset-after-create": {
        "kind": "reset",
        "method": "POST",
        "path": CREATE_PATH,
        "after_processing": True,
    },
    "post-timeout-after-create": {
        "kind": "delay",
        "seconds": 60.0,
        "method": "POST",
        "path": CREATE_PATH,
        "after_processing": True,
    },
    "post-503-before-create": {
        "kind": "status",
        "status": 503,
        "method": "POST",
        "path": CREATE_PATH,
        "retry_after": "1",
    },
    "get-429": {"kind": "status", "status": 429, "method": "GET", "retry_after": "1"},
    # The upload is stored (and its receipt kept), then the answer is lost: a client that sends it again
    # without reading the receipt stores a second copy.
    "upload-reset-after-store": {
        "kind": "reset",
        "method": "POST",
        "path": UPLOAD_PATH,
        "after_processing": True,
    },
    "upload-truncated-after-store": {"kind": "truncated", "method": "POST", "path": UPLOAD_PATH},
    "upload-success-false-400": {
        "kind": "status",
        "status": 400,
        "method": "POST",
        "path": UPLOAD_PATH,
        "body": "success_false",
    },
    "upload-success-false-503": {
        "kind": "status",
        "status": 503,
        "method": "POST",
        "path": UPLOAD_PATH,
        "body": "success_false",
    },
}


@dataclass
class FaultRule:
    """One rule, used for the next `count` requests whose method and path match.

    kind:
      * status    - answer `status` with an Evolink JSON error (`body="json"`) or an nginx page (`"html"`);
                    `body="success_false"` answers HTTP 200 with the file service's `{success: false,
                    code: status, msg}` instead (an error all the same).
      * truncated - handle the request normally (a POST creates its task), then send 200 with the JSON
                    body cut in half.
      * non_json  - 200 with text/plain garbage.
      * delay     - sleep `seconds`, then answer normally.
      * reset     - close the TCP connection without any HTTP response.
    after_processing: handle the request first (a POST creates and charges its task), then misbehave:
    the "outcome unknown" case a client must not blindly retry. For `delay` the normal answer is sent
    after the sleep either way; the flag only decides whether the task exists during the sleep.
    """

    kind: str
    method: str = "*"
    path: str = "/v1/"
    status: int = 500
    body: str = "json"
    retry_after: str | None = None
    after_processing: bool = False
    seconds: float = 0.0
    count: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(sorted(KINDS))}")
        if self.body not in BODIES:
            raise ValueError("body must be json or html")
        if self.count < 1:
            raise ValueError("count must be >= 1")
        if not 100 <= self.status <= 599:
            raise ValueError("status must be an HTTP status code")
        if self.seconds < 0:
            raise ValueError("seconds must be >= 0")
        self.method = self.method.upper()
        if self.retry_after is not None:
            self.retry_after = str(self.retry_after)

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method)) and path.startswith(self.path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        """Build from the control API's JSON; unknown keys are an error so typos do not pass silently.

        `{"preset": name, ...}` starts from PRESETS[name]; the other keys (e.g. `count`) override it.
        """
        if "preset" in data:
            data = dict(data)
            name = data.pop("preset")
            if name not in PRESETS:
                raise ValueError(f"preset must be one of {', '.join(sorted(PRESETS))}")
            data = {**PRESETS[name], **data}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
        if "kind" not in data:
            raise ValueError("kind is required")
        return cls(**data)


class FaultPlan:
    """The ordered rule list. Not locked itself; the owner's lock guards it."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first matching rule, with one use consumed."""
        for index, rule in enumerate(self.rules):
            if rule.matches(method, path):
                rule.count -= 1
                if rule.count <= 0:
                    del self.rules[index]
                return rule
        return None


class Faults:
    """The Python fault API (`EmulatorServer.faults`); safe to call from the test thread."""

    def __init__(self, lock: threading.RLock, plan: FaultPlan, jobs: JobStore) -> None:
        self._lock = lock
        self._plan = plan
        self._jobs = jobs

    # HTTP-level faults -------------------------------------------------------------------------

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._plan.rules.append(rule)
        return rule

    def http_status(
        self,
        status: int,
        *,
        method: str = "*",
        path: str = "/v1/",
        body: str = "json",
        retry_after: str | int | None = None,
        after_processing: bool = False,
        count: int = 1,
    ) -> FaultRule:
        retry = None if retry_after is None else str(retry_after)
        return self.add(FaultRule("status", method, path, status, body, retry, after_processing, count=count))

    def truncated(self, *, method: str = "*", path: str = "/v1/", count: int = 1) -> FaultRule:
        return self.add(FaultRule("truncated", method, path, count=count))

    def non_json(
        self, *, method: str = "*", path: str = "/v1/", after_processing: bool = False, count: int = 1
    ) -> FaultRule:
        return self.add(FaultRule("non_json", method, path, after_processing=after_processing, count=count))

    def delay(
        self,
        seconds: float,
        *,
        method: str = "*",
        path: str = "/v1/",
        after_processing: bool = False,
        count: int = 1,
    ) -> FaultRule:
        return self.add(
            FaultRule("delay", method, path, seconds=seconds, after_processing=after_processing, count=count)
        )

    def reset_connection(
        self, *, method: str = "*", path: str = "/v1/", after_processing: bool = False, count: int = 1
    ) -> FaultRule:
        return self.add(FaultRule("reset", method, path, after_processing=after_processing, count=count))

    def fail_after_create(self, status: int = 502, *, body: str = "json", count: int = 1) -> FaultRule:
        """The next create POSTs make (and charge) their task, then answer `status`: the answer is lost.

        A retry with the same Idempotency-Key is replayed with the task the lost answer named.
        """
        return self.http_status(
            status, method="POST", path=CREATE_PATH, body=body, after_processing=True, count=count
        )

    def lose_upload_answer(self, how: str = "reset", *, count: int = 1) -> FaultRule:
        """The next uploads are stored (with their receipts), then their answer is lost: the connection
        is closed without a response (`how="reset"`) or the 200 body is cut in half (`"truncated"`)."""
        if how == "reset":
            return self.reset_connection(method="POST", path=UPLOAD_PATH, after_processing=True, count=count)
        if how == "truncated":
            return self.truncated(method="POST", path=UPLOAD_PATH, count=count)
        raise ValueError("how must be reset or truncated")

    def upload_success_false(self, code: int, *, count: int = 1) -> FaultRule:
        """The next uploads store nothing and answer HTTP 200 with `{success: false, code: code}`."""
        return self.http_status(code, method="POST", path=UPLOAD_PATH, body="success_false", count=count)

    def preset(self, name: str, count: int = 1) -> FaultRule:
        """Add a rule from PRESETS by name."""
        return self.add(FaultRule.from_dict({"preset": name, "count": count}))

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.to_dict() for rule in self._plan.rules]

    def clear(self) -> None:
        """Drop pending HTTP faults and job overrides."""
        with self._lock:
            self._plan.rules.clear()
            self._jobs.overrides.clear()

    # Job outcome overrides ---------------------------------------------------------------------

    def override_jobs(self, override: JobOverride) -> None:
        with self._lock:
            self._jobs.add_override(override)

    def fail_next_jobs(
        self, code: str, message: str | None = None, count: int = 1, job_seconds: float | None = None
    ) -> None:
        """The next `count` jobs end `failed` with business code `code`."""
        error = make_error(code, message)
        self.override_jobs(JobOverride("failed", error, False, job_seconds, count))

    def next_jobs_status(
        self,
        status: str,
        count: int = 1,
        error_code: str | None = None,
        error_message: str | None = None,
        job_seconds: float | None = None,
    ) -> None:
        """The next jobs end with any status string, e.g. `cancelled` (undocumented but seen; it gets
        error `request_cancelled` unless `error_code` says otherwise). Any ending but `completed` is
        refunded."""
        error = make_error(error_code, error_message) if error_code else None
        self.override_jobs(JobOverride(status, error, status == "completed", job_seconds, count))

    def cancel_next_jobs(
        self, count: int = 1, message: str | None = None, job_seconds: float | None = None
    ) -> None:
        """The next jobs end `cancelled` with error `request_cancelled`; their credits are refunded."""
        error = make_error("request_cancelled", message)
        self.override_jobs(JobOverride("cancelled", error, False, job_seconds, count))

    def interim_status(self, share: float = 0.3, status: str = "in_queue", count: int = 1) -> None:
        """The next jobs report `status` (a status the docs do not list) for `share` of their time,
        between pending and processing, then complete normally. Clients must keep polling through it."""
        self.override_jobs(JobOverride(count=count, interim_status=status, interim_share=share))

    def next_jobs_shape(
        self,
        result_shape: str | None = None,
        cost_shape: str | None = None,
        extra_fields: bool | None = None,
        count: int = 1,
    ) -> None:
        """How the next completed jobs report results and cost (config.RESULT_SHAPES, COST_SHAPES),
        and whether they carry undocumented extra fields. None keeps the config's choice."""
        self.override_jobs(
            JobOverride(
                count=count, result_shape=result_shape, cost_shape=cost_shape, extra_fields=extra_fields
            )
        )

    def complete_without_results(self, count: int = 1, job_seconds: float | None = None) -> None:
        self.override_jobs(JobOverride("completed", None, False, job_seconds, count))

    def next_jobs_seconds(self, seconds: float, count: int = 1) -> None:
        """The next jobs take `seconds` instead of `config.job_seconds`, and complete normally."""
        self.override_jobs(JobOverride(None, None, True, seconds, count))

    def expire_results_now(self) -> int:
        """Make every result link that is live now expire (403); returns how many."""
        with self._lock:
            return self._jobs.expire_results_now()

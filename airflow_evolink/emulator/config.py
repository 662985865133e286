"""Settings for one emulator instance."""

from __future__ import annotations

from dataclasses import dataclass

ONE_MIB = 1024 * 1024
#: The route that creates (and charges) a task.
CREATE_PATH = "/v1/videos/generations"

#: How a completed task reports its result links (all seen from the real API; Evolink's own client
#: reads each): `results: [url]`, `result_data: [{video_url}]`, `result_data: {video_url}`,
#: `output: {video_url}` or a top-level `video_url`. "mixed" picks one per job (seeded).
RESULT_SHAPES = frozenset({"results", "result_data_list", "result_data_object", "output", "video_url"})
#: How a completed task reports its charge: `usage.credits_used` (a number) or
#: `usage.cost: {credits, usd}` (68 credits = 1 USD). "mixed" picks one per job (seeded).
COST_SHAPES = frozenset({"credits_used", "cost"})
MIXED = "mixed"
#: Share of the job time a task stays `pending` before anything else.
PENDING_SHARE = 0.1
#: The interim status may take at most this share, so `processing` is always seen too.
INTERIM_SHARE_MAX = 0.8


def check_shapes(result_shape: str | None, cost_shape: str | None) -> None:
    if result_shape is not None and result_shape not in RESULT_SHAPES | {MIXED}:
        raise ValueError(f"result_shape must be one of {', '.join(sorted(RESULT_SHAPES | {MIXED}))}")
    if cost_shape is not None and cost_shape not in COST_SHAPES | {MIXED}:
        raise ValueError(f"cost_shape must be one of {', '.join(sorted(COST_SHAPES | {MIXED}))}")


def check_interim(share: float | None, status: str | None) -> None:
    if share is not None and not 0.0 <= share <= INTERIM_SHARE_MAX:
        raise ValueError(f"interim_share must be between 0 and {INTERIM_SHARE_MAX}")
    listed = ("pending", "processing", "completed", "failed")
    if status is not None and (not isinstance(status, str) or not status or status in listed):
        raise ValueError("interim_status must be a status the docs do not list (e.g. in_queue)")


def check_pricing_status(status: int) -> None:
    forced = (
        isinstance(status, int) and not isinstance(status, bool) and (status == 404 or 500 <= status <= 599)
    )
    if status != 200 and not forced:
        raise ValueError("pricing_status must be 200, 404 or a 5xx status")


#: How the file service's receipts route answers: normally, or as an older file service without it.
RECEIPT_ROUTE_STATUSES = frozenset({200, 404, 405})


def check_receipts_status(status: object) -> int:
    if isinstance(status, bool) or not isinstance(status, int) or status not in RECEIPT_ROUTE_STATUSES:
        raise ValueError(
            "upload_receipts_status must be 200 (receipts served), 404 or 405 (no receipt route)"
        )
    return status


@dataclass(frozen=True)
class EmulatorConfig:
    """How the emulated account and jobs behave.

    The defaults give an account that never runs out of credits, jobs that finish after 5 s and
    result links that expire after 24 h, as the real API documents.
    """

    #: When None any non-empty bearer token is accepted; otherwise only this key.
    api_key: str | None = None
    #: Seconds from task creation to its final status.
    job_seconds: float = 5.0
    #: The account balance (`user.remaining_credits`) at start and after reset. Charging needs it.
    credits: int | float = 10**12
    #: The API key's own figure (`token.remaining_credits`) at start; None means the same as `credits`.
    token_credits: int | float | None = None
    #: True: the key has no limit of its own (`unlimited_credits: true`, as in the docs' example) and
    #: only the account balance is checked. False: charging also needs `token_credits`, and a
    #: shortfall there answers 402 `key_quota_exhausted` instead of `insufficient_quota`.
    token_unlimited: bool = True
    #: Requests per second allowed across /v1 routes (token bucket); None disables the limit.
    rate_limit: float | None = None
    #: Bucket size for the rate limit; None means max(1, rate_limit).
    rate_burst: int | None = None
    #: Size in bytes of every result video.
    result_bytes: int = 64 * 1024
    #: Seconds a result link stays valid after the job completes.
    result_ttl_seconds: float = 86_400.0
    #: Share of jobs (0..1) that end `failed` with `fail_code`, chosen by a seeded generator.
    fail_rate: float = 0.0
    fail_code: str = "service_error"
    #: A status the docs do not list, reported between `pending` and `processing` for
    #: `interim_share` of each job's time (0 turns it off). Clients must keep polling through it.
    interim_status: str = "in_queue"
    interim_share: float = 0.0
    #: See RESULT_SHAPES and COST_SHAPES; jobs can override both.
    result_shape: str = "results"
    cost_shape: str = "credits_used"
    #: Share of jobs (0..1) whose body carries fields no doc lists (`draft_expires_at`, a top-level
    #: `video_duration`, `error.suggestion`), to prove clients ignore them.
    extra_fields: float = 0.0
    #: Seed for the random choices (task id suffixes, fail_rate) so runs repeat.
    seed: int | None = None
    #: Largest accepted request body; bigger ones get 413.
    max_body_bytes: int = ONE_MIB
    #: How many request records the log keeps (stats count every request regardless).
    request_log_limit: int = 100_000
    #: Serve POST /v1/tasks/batch; False answers it with 404, as a gateway without the route would.
    batch_route: bool = True
    #: The file service (uploads.py): largest file, files held per account, hours a file lives.
    upload_max_bytes: int = 100 * ONE_MIB
    file_quota: int = 100
    file_ttl_seconds: float = 72 * 3600.0
    #: How the public pricing-rules routes answer: 200 (normally, with 304 for a matching ETag), or a
    #: forced 404 or 5xx (no price can be read). The control API switches it at run time.
    pricing_status: int = 200
    #: How ``GET /api/v1/files/upload-receipts/{id}`` answers: 200 (receipts served), or 404 / 405 as an
    #: older file service without the route. The control API switches it at run time.
    upload_receipts_status: int = 200
    #: Fetch a new task's input URLs on loopback hosts (and look up its own file URLs) and fail the task
    #: when one cannot be read, as Evolink does (inputs.py). False takes every input as readable.
    fetch_inputs: bool = True

    def __post_init__(self) -> None:
        if self.job_seconds < 0:
            raise ValueError("job_seconds must be >= 0")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be > 0 or None")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if self.result_bytes < 0:
            raise ValueError("result_bytes must be >= 0")
        check_interim(self.interim_share, self.interim_status)
        check_shapes(self.result_shape, self.cost_shape)
        check_pricing_status(self.pricing_status)
        check_receipts_status(self.upload_receipts_status)
        if not 0.0 <= self.extra_fields <= 1.0:
            raise ValueError("extra_fields must be between 0 and 1")

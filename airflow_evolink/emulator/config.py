"""Settings for one emulator instance."""

from __future__ import annotations

from dataclasses import dataclass

ONE_MIB = 1024 * 1024


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
    #: Credits the account starts with (and gets back on reset).
    credits: int = 10**12
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
    #: Seed for the random choices (task id suffixes, fail_rate) so runs repeat.
    seed: int | None = None
    #: Largest accepted request body; bigger ones get 413.
    max_body_bytes: int = ONE_MIB
    #: How many request records the log keeps (stats count every request regardless).
    request_log_limit: int = 100_000
    #: Serve POST /v1/tasks/batch; False answers it with 404, as a gateway without the route would.
    batch_route: bool = True

    def __post_init__(self) -> None:
        if self.job_seconds < 0:
            raise ValueError("job_seconds must be >= 0")
        if self.rate_limit is not None and self.rate_limit <= 0:
            raise ValueError("rate_limit must be > 0 or None")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if self.result_bytes < 0:
            raise ValueError("result_bytes must be >= 0")

"""When a failed call is retried, how long to wait, and when a paid POST must not be sent again.

One policy serves the ``requests`` path and the aiohttp path: :meth:`RetryPolicy.tenacity_kwargs`
returns the same arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying``.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_delay
from tenacity.stop import stop_base

from airflow_evolink.core.errors import (
    EvolinkConnectionError,
    EvolinkError,
    EvolinkRateLimitError,
    EvolinkResponseError,
    EvolinkServerError,
)
from airflow_evolink.core.protocol import ApiCall

# Statuses that show the server did not process the request, so even a paid POST may be sent again.
NOT_PROCESSED_STATUSES = frozenset({429, 503})
# Statuses worth retrying for a read: rate limits and server or gateway errors.
RETRYABLE_READ_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, honouring ``Retry-After`` up to ``max_retry_after``.

    ``max_attempts`` counts failures other than 429: a rate limit says "come back later", not "this
    request is broken", so a burst of mapped tasks waits its turn (bounded by ``max_elapsed``) instead
    of failing tasks that would have succeeded a few seconds later.
    Plain values only, so a trigger can carry it in its serialized kwargs.
    """

    max_attempts: int = 6
    initial_wait: float = 1.0
    max_wait: float = 30.0
    max_retry_after: float = 120.0
    jitter: float = 1.0
    max_elapsed: float = 600.0

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RetryPolicy:
        if not data:
            return cls()
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def should_retry(self, call: ApiCall, exc: BaseException) -> bool:
        """Reads retry any transient failure; a paid POST only one the server provably did not process."""
        if call.paid:
            return request_not_processed(exc)
        if isinstance(exc, (EvolinkRateLimitError, EvolinkServerError)):
            return exc.http_status in RETRYABLE_READ_STATUSES
        return isinstance(exc, (EvolinkConnectionError, EvolinkResponseError))

    def wait_seconds(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to sleep before try number ``attempt + 1``."""
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            return min(float(retry_after), self.max_retry_after) + random.uniform(0, self.jitter / 4)
        backoff = min(self.max_wait, self.initial_wait * (2 ** max(0, attempt - 1)))
        return min(self.max_wait, backoff + random.uniform(0, self.jitter))

    def tenacity_kwargs(self, call: ApiCall, logger: Any = None) -> dict[str, Any]:
        """Arguments for ``tenacity.Retrying`` / ``AsyncRetrying`` that apply this policy to ``call``."""

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.wait_seconds(state.attempt_number, exc)

        def before_sleep(state: RetryCallState) -> None:
            if logger is None:
                return
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            logger.warning(
                "Evolink %s failed (%s) on attempt %d; retrying in %.1f s "
                "(gives up after %d failures other than 429, or %.0f s)",
                call.describe(),
                exc,
                state.attempt_number,
                delay,
                self.max_attempts,
                self.max_elapsed,
            )

        return {
            "retry": retry_if_exception(lambda exc: self.should_retry(call, exc)),
            "wait": wait,
            "stop": StopAfterCountedAttempts(self.max_attempts) | stop_after_delay(self.max_elapsed),
            "before_sleep": before_sleep,
            "reraise": True,
        }


class StopAfterCountedAttempts(stop_base):
    """Stop once ``max_attempts`` failures other than 429 (rate limited) have been seen.

    The count lives on tenacity's per-call state, so one ``Retrying`` may serve many calls.
    """

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        counted: int = getattr(retry_state, "evolink_counted_failures", 0)
        if not isinstance(exc, EvolinkRateLimitError):
            counted += 1
        retry_state.evolink_counted_failures = counted  # type: ignore[attr-defined]
        return counted >= self.max_attempts


def request_not_processed(exc: BaseException) -> bool:
    """True only when the server cannot have acted on the request: 429, 503, or no bytes sent."""
    if isinstance(exc, EvolinkConnectionError):
        return not exc.sent
    if isinstance(exc, (EvolinkRateLimitError, EvolinkServerError)):
        return exc.http_status in NOT_PROCESSED_STATUSES
    return False


def outcome_unknown(call: ApiCall, exc: BaseException) -> bool:
    """A paid POST failed in a way that leaves open whether the task was created (and billed)."""
    if not call.paid or not isinstance(exc, EvolinkError):
        return False
    if isinstance(exc, EvolinkConnectionError):
        return exc.sent
    if isinstance(exc, EvolinkServerError):
        return exc.http_status not in NOT_PROCESSED_STATUSES
    return isinstance(exc, EvolinkResponseError)

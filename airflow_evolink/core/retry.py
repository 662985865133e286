"""When a failed call is sent again, and how long to wait first.

One policy serves the ``requests`` path and the aiohttp path: :meth:`RetryPolicy.tenacity_kwargs`
returns the same arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying``.

A paid POST always carries an ``Idempotency-Key``, and Evolink's gateway keeps a ledger of them: the same
key with the same body answers with the job the first send created, and creates nothing. So a paid POST
whose answer was lost (a timeout, a dropped connection, a 5xx after the job may have been created) is sent
again with the same key, like Evolink's own client does (evolink-cli services/api-client.js), within a
smaller attempt budget than reads.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from tenacity import RetryCallState, retry_if_exception, stop_after_delay
from tenacity.stop import stop_base

from airflow_evolink.core.error_codes import (
    ADMISSION_REJECTION_CODES,
    IDEMPOTENCY_CONFLICT_CODES,
    IN_FLIGHT_CODES,
    UNAVAILABLE_CODES,
)
from airflow_evolink.core.errors import (
    EvolinkAPIError,
    EvolinkConnectionError,
    EvolinkError,
    EvolinkRateLimitError,
    EvolinkResponseError,
)
from airflow_evolink.core.protocol import TIMEOUT_STATUSES, ApiCall

# Statuses that the gateway answers before it dispatches a request (a rate limit, a busy service).
NOT_PROCESSED_STATUSES = frozenset({429, 503})
#: Seconds to wait, at least, before sending again a key whose first send is still being processed.
IN_FLIGHT_MIN_WAIT = 10.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, honouring ``Retry-After`` up to ``max_retry_after``.

    ``max_attempts`` counts failures other than 429: a rate limit says "come back later", not "this
    request is broken", so a burst of mapped tasks waits its turn (bounded by ``max_elapsed``) instead
    of failing tasks that would have succeeded a few seconds later.
    Plain values only, so a trigger can carry it in its serialized kwargs.
    """

    max_attempts: int = 6
    #: Sends of one paid POST (failures other than 429), all with the same Idempotency-Key.
    paid_max_attempts: int = 4
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

    @classmethod
    def from_settings(cls, data: Any, *, source: str) -> RetryPolicy:
        """A policy from user settings (a connection extra), checked field by field.

        Unlike :meth:`from_dict` (a trigger's own serialized policy), a misspelt or out-of-range field is
        an error naming ``source`` and the field, not silently the default.
        """
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"{source} must be an object of RetryPolicy fields, got {type(data).__name__}")
        fields = cls.__dataclass_fields__
        for name, value in data.items():
            if name not in fields:
                raise ValueError(f"{source} has an unknown field {name!r}; known fields: {', '.join(fields)}")
            _check_setting(source, name, value)
        settings: dict[str, Any] = {
            name: float(value) if name in _SECONDS else value for name, value in data.items()
        }
        return cls(**settings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def should_retry(self, call: ApiCall, exc: BaseException) -> bool:
        """Send again after a transient failure: rate limits, 5xx, busy channels, network and body faults.

        The same rule holds for a paid POST, because it is sent again with the same Idempotency-Key; a
        4xx answer (bad input, no credits, a conflicting key) is final for reads and POSTs alike.
        """
        return isinstance(exc, EvolinkError) and exc.transient

    def wait_seconds(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to sleep before try number ``attempt + 1``."""
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)) and retry_after > 0:
            return min(float(retry_after), self.max_retry_after) + random.uniform(0, self.jitter / 4)
        backoff = min(self.max_wait, self.initial_wait * (2 ** max(0, attempt - 1)))
        wait = min(self.max_wait, backoff + random.uniform(0, self.jitter))
        if _in_flight(exc):
            # The first send is still being processed (often one that outlived its read timeout):
            # give it time rather than knocking again at once.
            wait = max(wait, IN_FLIGHT_MIN_WAIT)
        return wait

    def attempts_for(self, call: ApiCall) -> int:
        return self.paid_max_attempts if call.paid else self.max_attempts

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
            again = (
                f"sending it again with the same Idempotency-Key {call.idempotency_key}"
                if call.paid and call.idempotency_key
                else "retrying"
            )
            logger.warning(
                "Evolink %s failed (%s) on attempt %d; %s in %.1f s "
                "(gives up after %d failures other than 429, or %.0f s)",
                call.describe(),
                exc,
                state.attempt_number,
                again,
                delay,
                self.attempts_for(call),
                self.max_elapsed,
            )

        return {
            "retry": retry_if_exception(lambda exc: self.should_retry(call, exc)),
            "wait": wait,
            "stop": StopAfterCountedAttempts(self.attempts_for(call)) | stop_after_delay(self.max_elapsed),
            "before_sleep": before_sleep,
            "reraise": True,
        }


_COUNTS = frozenset({"max_attempts", "paid_max_attempts"})
_SECONDS = frozenset({"initial_wait", "max_wait", "max_retry_after", "jitter", "max_elapsed"})


def _check_setting(source: str, name: str, value: Any) -> None:
    if name in _COUNTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{source} field {name!r} must be a whole number of at least 1 (got {value!r})")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ValueError(f"{source} field {name!r} must be a number of seconds, 0 or more (got {value!r})")
    if name == "max_elapsed" and value == 0:
        raise ValueError(f"{source} field 'max_elapsed' must be more than 0 seconds (got {value!r})")


class StopAfterCountedAttempts(stop_base):
    """Stop once ``max_attempts`` failures other than "come back later" answers have been seen.

    A 429 (rate limited) and ``paid_outcome_unknown`` (the first send with this key is still being
    processed) are not counted: both say the request is fine and the server is busy, and ``max_elapsed``
    bounds them. The count lives on tenacity's per-call state, so one ``Retrying`` may serve many calls.
    """

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        counted: int = getattr(retry_state, "evolink_counted_failures", 0)
        if not _come_back_later(exc):
            counted += 1
        retry_state.evolink_counted_failures = counted  # type: ignore[attr-defined]
        return counted >= self.max_attempts


def _come_back_later(exc: BaseException | None) -> bool:
    return isinstance(exc, EvolinkRateLimitError) or _in_flight(exc)


def _in_flight(exc: BaseException | None) -> bool:
    return isinstance(exc, EvolinkAPIError) and exc.normalized_code in IN_FLIGHT_CODES


def outcome_unknown(call: ApiCall, exc: BaseException) -> bool:
    """A paid POST failed in a way that leaves open whether the job was created (and billed).

    Definitely not created: a gateway admission rejection (``insufficient_quota``, ``key_disabled``, ...;
    evolink-cli api-client.js ``verifiedPrechargeRejection``) or ``idempotency_conflict``, whatever the
    status; a rate limit or an unavailable channel, which come before dispatch; and a 4xx refusal of the
    request as such. Unknown: a 5xx, a timeout status (408, 425, 499), ``paid_outcome_unknown``, a body
    without a task id, a timeout or a dropped connection after sending.
    """
    if not call.paid or not isinstance(exc, EvolinkError):
        return False
    if isinstance(exc, EvolinkConnectionError):
        return exc.sent
    if isinstance(exc, EvolinkResponseError):
        return True
    if isinstance(exc, EvolinkAPIError):
        code = exc.normalized_code
        if code in ADMISSION_REJECTION_CODES or code in IDEMPOTENCY_CONFLICT_CODES:
            return False
        if code in IN_FLIGHT_CODES:
            return True
        if code in UNAVAILABLE_CODES or exc.http_status in NOT_PROCESSED_STATUSES:
            return False
        return exc.http_status >= 500 or exc.http_status in TIMEOUT_STATUSES
    return False

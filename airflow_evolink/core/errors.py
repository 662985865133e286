"""Error classes that carry what a user needs: HTTP status, Evolink type/code, message, and retryability.

They do not depend on Airflow, so the core stays importable anywhere. The operator and sensor translate
them into Airflow's own failure semantics (``AirflowFailException`` when a retry cannot help).
"""

from __future__ import annotations

from typing import Any

from airflow_evolink.core.error_codes import TASK_ERROR_RETRYABLE, normalize_code, task_error_is_retryable

__all__ = [
    "TASK_ERROR_RETRYABLE",
    "EvolinkAPIError",
    "EvolinkAuthError",
    "EvolinkBadRequestError",
    "EvolinkConnectionError",
    "EvolinkError",
    "EvolinkIdempotencyConflictError",
    "EvolinkInsufficientCreditsError",
    "EvolinkNotFoundError",
    "EvolinkOutcomeUnknownError",
    "EvolinkRateLimitError",
    "EvolinkResponseError",
    "EvolinkServerError",
    "EvolinkTaskFailedError",
    "EvolinkTimeoutError",
    "EvolinkValidationError",
    "task_error_is_retryable",
]


class EvolinkError(Exception):
    """Base class of every error the provider raises about Evolink.

    ``retryable``: another try may succeed (Airflow may retry the task). ``transient``: the same call may
    succeed within seconds, so the hook sends it again itself, with backoff.
    """

    retryable: bool = False
    transient: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class EvolinkValidationError(EvolinkError, ValueError):
    """A request field breaks an API rule. Raised before any request is sent, so nothing is spent."""

    def __init__(self, field: str, rule: str, value: Any = None, *, model: str | None = None) -> None:
        self.field = field
        self.rule = rule
        self.value = value
        self.model = model
        where = f" for model {model!r}" if model else ""
        shown = _short(value)
        got = f" (got {shown})" if shown is not None else ""
        super().__init__(f"Invalid Evolink request field '{field}'{where}: {rule}{got}")


class EvolinkAPIError(EvolinkError):
    """The API answered with a non-2xx status and (usually) an Evolink error body.

    ``code`` is ``error.code`` as sent (a string such as ``key_daily_quota_exhausted``, or an integer);
    ``normalized_code`` is its look-up form. ``suggestion`` is the API's own advice, shown in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int,
        error_type: str | None = None,
        code: int | str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        suggestion: str | None = None,
        transient: bool | None = None,
        hint: str | None = None,
    ) -> None:
        self.http_status = http_status
        self.error_type = error_type
        self.code = code
        self.normalized_code = normalize_code(code)
        self.param = param
        self.request_id = request_id
        self.retryable = retryable
        self.transient = retryable if transient is None else transient
        self.retry_after = retry_after
        self.suggestion = suggestion
        detail = f"HTTP {http_status}"
        if error_type:
            detail += f" {error_type}"
        if isinstance(code, str) and code.strip():
            detail += f" {code.strip()}"
        text = f"Evolink API error ({detail}): {message}"
        if param:
            text += f" [param: {param}]"
        if suggestion:
            text += f" Suggestion: {suggestion}"
        if hint:
            text += f" {hint}"
        if request_id:
            text += f" [request id: {request_id}]"
        super().__init__(text)
        self.api_message = message


class EvolinkBadRequestError(EvolinkAPIError):
    """400/409/413/422: the request itself is wrong; sending it again cannot help."""


class EvolinkAuthError(EvolinkAPIError):
    """401/403: the API key is missing, wrong, or lacks permission. Fix the connection."""


class EvolinkInsufficientCreditsError(EvolinkAPIError):
    """402 or a quota code: the account or the key has too few credits.

    Final for an empty account or a key's spending limit; retryable (later) for a key's daily limit,
    which resets at midnight.
    """


class EvolinkIdempotencyConflictError(EvolinkBadRequestError):
    """The Idempotency-Key was already used for a different request body."""


class EvolinkNotFoundError(EvolinkAPIError):
    """404: unknown model or task id (task ids expire)."""


class EvolinkRateLimitError(EvolinkAPIError):
    """429: too many requests. Retried with backoff, honouring ``Retry-After``."""


class EvolinkServerError(EvolinkAPIError):
    """5xx: a server or gateway problem, usually transient."""


class EvolinkResponseError(EvolinkError):
    """A 2xx answer whose body is not the JSON the API promises (truncated, HTML, too large)."""

    retryable = True
    transient = True

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        self.http_status = http_status
        super().__init__(message)


class EvolinkConnectionError(EvolinkError):
    """The network failed. ``sent`` says whether the request may have reached the server."""

    retryable = True
    transient = True

    def __init__(self, message: str, *, sent: bool) -> None:
        self.sent = sent
        super().__init__(message)


class EvolinkOutcomeUnknownError(EvolinkError):
    """A paid POST may or may not have created a job, and re-sending it with its key did not settle it.

    It is retryable: the key belongs to the task instance, so Airflow's next try presents the same key
    and Evolink's ledger answers with the job it created, if any, instead of creating a second one.
    """

    retryable = True

    def __init__(
        self,
        cause: EvolinkError,
        *,
        idempotency_key: str | None,
        task_id: str | None = None,
        attempts: int | None = None,
    ) -> None:
        self.cause = cause
        self.idempotency_key = idempotency_key
        self.task_id = task_id
        self.attempts = attempts
        sent = f" after {attempts} sends" if attempts else ""
        task = f" Evolink task id: {task_id}." if task_id else " No Evolink task id was received."
        key = f" with Idempotency-Key {idempotency_key}" if idempotency_key else ""
        super().__init__(
            f"The outcome of the paid video generation request{key} is unknown{sent} ({cause}).{task} "
            "A retry of this task instance re-sends the same key, and Evolink answers it with the job it "
            "already created, if any, instead of paying again. To check by hand, look for a task created "
            "at this time in the Evolink dashboard."
        )


class EvolinkTaskFailedError(EvolinkError):
    """The task ended ``failed`` or ``cancelled`` (or completed without results) on Evolink's side."""

    def __init__(
        self,
        task_id: str,
        status: str,
        code: str | None,
        message: str | None,
        *,
        suggestion: str | None = None,
    ) -> None:
        self.task_id = task_id
        self.status = status
        self.code = code
        self.task_message = message
        self.suggestion = suggestion
        from airflow_evolink.core.status import TaskStatus

        self.retryable = task_error_is_retryable(code) and TaskStatus.parse(status) is TaskStatus.FAILED
        hint = "retrying may help" if self.retryable else "retrying the same input will not help"
        code_text = f" [{code}]" if code else ""
        advice = f" Suggestion: {suggestion}" if suggestion else ""
        super().__init__(
            f"Evolink task {task_id} ended {status}{code_text}: {message or 'no message'} ({hint}).{advice}"
        )


class EvolinkTimeoutError(EvolinkError):
    """The task did not finish before the deadline. The remote job may still be running."""

    def __init__(self, task_id: str, waited_seconds: float, last_status: str | None = None) -> None:
        self.task_id = task_id
        self.waited_seconds = waited_seconds
        self.last_status = last_status
        status = f" (last status: {last_status})" if last_status else ""
        super().__init__(
            f"Evolink task {task_id} did not finish within {waited_seconds:.0f} s{status}. "
            "The job may still be running on Evolink; Evolink has no cancel endpoint."
        )


def _short(value: Any, limit: int = 80) -> str | None:
    if value is None:
        return None
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

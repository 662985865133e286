"""Error classes that carry what a user needs: HTTP status, Evolink type/code, message, and retryability.

They do not depend on Airflow, so the core stays importable anywhere. The operator and sensor translate
them into Airflow's own failure semantics (``AirflowFailException`` when a retry cannot help).
"""

from __future__ import annotations

from typing import Any

# Business codes in ``error.code`` of a failed task, and whether re-submitting the same input can help.
# Source: the API's error-code page, plus codes seen in EvoLink's own clients.
TASK_ERROR_RETRYABLE: dict[str, bool] = {
    "content_policy_violation": False,
    "invalid_parameters": False,
    "image_processing_error": False,
    "image_dimension_mismatch": False,
    "request_cancelled": False,
    "resource_not_found": False,
    "model_unavailable": False,
    "generation_failed_no_content": True,
    "service_error": True,
    "generation_timeout": True,
    "resource_exhausted": True,
    "quota_exceeded": True,
    "service_unavailable": True,
    "upstream_error": True,
    "unknown_error": True,
}


def task_error_is_retryable(code: str | None) -> bool:
    """Whether a failed task with this business code may succeed when submitted again.

    Codes not in the table are treated as retryable unless they look like an input problem, so that an
    unclassified server-side failure does not fail a pipeline for good.
    """
    if not code:
        return True
    if code in TASK_ERROR_RETRYABLE:
        return TASK_ERROR_RETRYABLE[code]
    return not code.startswith(("image_", "invalid_", "content_"))


class EvolinkError(Exception):
    """Base class of every error the provider raises about Evolink."""

    retryable: bool = False

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
    """The API answered with a non-2xx status and (usually) an Evolink error body."""

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
    ) -> None:
        self.http_status = http_status
        self.error_type = error_type
        self.code = code
        self.param = param
        self.request_id = request_id
        self.retryable = retryable
        self.retry_after = retry_after
        detail = f"HTTP {http_status}"
        if error_type:
            detail += f" {error_type}"
        text = f"Evolink API error ({detail}): {message}"
        if param:
            text += f" [param: {param}]"
        if request_id:
            text += f" [request id: {request_id}]"
        super().__init__(text)
        self.api_message = message


class EvolinkBadRequestError(EvolinkAPIError):
    """400/409/413/422: the request itself is wrong; sending it again cannot help."""


class EvolinkAuthError(EvolinkAPIError):
    """401/403: the API key is missing, wrong, or lacks permission. Fix the connection."""


class EvolinkInsufficientCreditsError(EvolinkAPIError):
    """402: the account has too few credits. Top up; a retry will not help."""


class EvolinkNotFoundError(EvolinkAPIError):
    """404: unknown model or task id (task ids expire)."""


class EvolinkRateLimitError(EvolinkAPIError):
    """429: too many requests. Retried with backoff, honouring ``Retry-After``."""


class EvolinkServerError(EvolinkAPIError):
    """5xx: a server or gateway problem, usually transient."""


class EvolinkResponseError(EvolinkError):
    """A 2xx answer whose body is not the JSON the API promises (truncated, HTML, too large)."""

    retryable = True

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        self.http_status = http_status
        super().__init__(message)


class EvolinkConnectionError(EvolinkError):
    """The network failed. ``sent`` says whether the request may have reached the server."""

    retryable = True

    def __init__(self, message: str, *, sent: bool) -> None:
        self.sent = sent
        super().__init__(message)


class EvolinkOutcomeUnknownError(EvolinkError):
    """A paid POST failed after it may have been processed. It is never re-sent automatically."""

    retryable = False

    def __init__(
        self, cause: EvolinkError, *, idempotency_key: str | None, task_id: str | None = None
    ) -> None:
        self.cause = cause
        self.idempotency_key = idempotency_key
        self.task_id = task_id
        task = f" Evolink task id: {task_id}." if task_id else " No Evolink task id was received."
        super().__init__(
            "The outcome of the paid video generation request is unknown "
            f"({cause}); it was not re-sent, so that it is not paid twice.{task} "
            "Check the Evolink dashboard before submitting again."
            + (f" Idempotency-Key: {idempotency_key}." if idempotency_key else "")
        )


class EvolinkTaskFailedError(EvolinkError):
    """The task ended ``failed`` (or ``cancelled``, or an unknown status) on Evolink's side."""

    def __init__(self, task_id: str, status: str, code: str | None, message: str | None) -> None:
        self.task_id = task_id
        self.status = status
        self.code = code
        self.task_message = message
        from airflow_evolink.core.status import TaskStatus

        self.retryable = task_error_is_retryable(code) and TaskStatus.parse(status) is TaskStatus.FAILED
        hint = "retrying may help" if self.retryable else "retrying the same input will not help"
        code_text = f" [{code}]" if code else ""
        super().__init__(
            f"Evolink task {task_id} ended {status}{code_text}: {message or 'no message'} ({hint})"
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

"""What Evolink's string error codes mean: charged or not, retry now, retry later, or never.

HTTP error bodies carry ``error.code`` as a string more often than as the HTTP status, and a code says
more than the status: a 402 may be an empty account (final) or a key's daily limit (resets at midnight).
Sources: Evolink's own client (evolink-cli ``services/error-handler.js``, ``services/api-client.js``),
the error-code page https://docs.evolink.ai/en/api-manual/task-management/error-codes, and section 9 of
the API notes. Codes are compared in a normal form (see :func:`normalize_code`).
"""

from __future__ import annotations

import re

#: The account balance is too low (error-handler.js ACCOUNT_CODES). Final: top up.
ACCOUNT_BALANCE_CODES = frozenset(
    {"insufficient_quota", "insufficient_user_quota", "quota_not_enough", "account_balance_insufficient"}
)
#: The key's own spending limit is used up (KEY_QUOTA_CODES). Final: raise the limit or use another key.
KEY_QUOTA_CODES = frozenset({"insufficient_token_quota", "key_quota_exhausted"})
#: The key's daily limit is used up (KEY_DAILY_CODES). It resets at midnight: retryable later.
KEY_DAILY_CODES = frozenset({"token_daily_quota_exceeded", "key_daily_quota_exhausted"})
#: The key or account cannot be used at all.
KEY_STATE_CODES = frozenset({"key_disabled", "key_expired", "user_disabled", "invalid_token"})
#: The key may not use this model.
MODEL_NOT_ALLOWED_CODES = frozenset({"key_model_not_allowed", "model_access_denied"})
#: Blocked by content review (CONTENT_CODES). Final for the same input.
CONTENT_CODES = frozenset(
    {
        "content_policy_violation",
        "content_filter",
        "sensitive_content",
        "moderation_blocked",
        "input_moderation_failed",
    }
)
#: No channel can serve the model just now (UNAVAILABLE_CODES, plus service_unavailable). Retry soon.
UNAVAILABLE_CODES = frozenset(
    {"no_available_channel", "model_unavailable", "channel_selection_failed", "service_unavailable"}
)
#: The same Idempotency-Key arrived while its first request is still being processed: wait and send
#: again with the same key, never a new one (error-handler.js, ``outcome_unknown``).
IN_FLIGHT_CODES = frozenset({"paid_outcome_unknown"})
#: The Idempotency-Key was already used for a different request.
IDEMPOTENCY_CONFLICT_CODES = frozenset({"idempotency_conflict"})

#: Gateway admission rejections, emitted before a paid request is dispatched: such an answer is
#: definitely not charged (api-client.js ``verifiedPrechargeRejection``). Any other error answer to a paid
#: POST leaves its outcome unknown.
ADMISSION_REJECTION_CODES = frozenset(
    ACCOUNT_BALANCE_CODES
    | KEY_QUOTA_CODES
    | KEY_DAILY_CODES
    | {"key_disabled", "key_expired", "key_model_not_allowed", "user_disabled"}
)

# Business codes in ``error.code`` of a failed task, and whether submitting the same input again can
# help (error-handler.js TASK_ERROR_MAP, the error-code page). ``generation_failed_no_content`` and
# ``unknown_error``: "do not generate again automatically".
TASK_ERROR_RETRYABLE: dict[str, bool] = {
    "content_policy_violation": False,
    "invalid_parameters": False,
    "image_processing_error": False,
    "image_dimension_mismatch": False,
    "request_cancelled": False,
    "resource_not_found": False,
    "generation_failed_no_content": False,
    "unknown_error": False,
    # The provider's own code for a task that completed (and was charged) without result links.
    "no_results": False,
    "service_error": True,
    "generation_timeout": True,
    "resource_exhausted": True,
    "quota_exceeded": True,
    "service_unavailable": True,
    "upstream_error": True,
    "model_unavailable": True,
    "no_available_channel": True,
    "channel_selection_failed": True,
}

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\s\-]+")


def normalize_code(code: object) -> str | None:
    """A code in one form for look-ups: lower case, ``snake_case`` words, dots kept.

    ``"KEY_DAILY_QUOTA_EXHAUSTED"`` and ``"key_daily_quota_exhausted"`` are one code, and so are the
    dotted forms some upstream models send: ``"InvalidParameter.TaskTypeConstraint"`` becomes
    ``"invalid_parameter.task_type_constraint"``. Integer codes (an HTTP status) become their digits.
    """
    if code is None or isinstance(code, bool):
        return None
    text = str(code).strip()
    if not text:
        return None
    text = _CAMEL_BOUNDARY.sub("_", text)
    return _SEPARATORS.sub("_", text).lower()


def _head(code: str) -> str:
    """The first dotted part: ``invalid_parameter`` of ``invalid_parameter.task_type_constraint``."""
    return code.split(".", 1)[0]


def looks_like_input_problem(code: str) -> bool:
    """A code that names the request or its content as the problem, so the same input fails again."""
    head = _head(code)
    return head in CONTENT_CODES or head.startswith(
        ("invalid", "image_", "content_", "unsupported", "missing_", "bad_request")
    )


def task_error_is_retryable(code: object) -> bool:
    """Whether a failed task with this business code may succeed when submitted again.

    A failed task is refunded, so a retry costs nothing for a failure that does not recur; but Evolink
    says not to regenerate a task that failed for no stated reason (a missing code counts as
    ``unknown_error``). Unlisted codes are retryable unless they name the input as the problem.
    """
    normal = normalize_code(code)
    if normal is None:
        return TASK_ERROR_RETRYABLE["unknown_error"]
    for candidate in (normal, _head(normal)):
        if candidate in TASK_ERROR_RETRYABLE:
            return TASK_ERROR_RETRYABLE[candidate]
    return not looks_like_input_problem(normal)

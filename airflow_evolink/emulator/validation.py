"""Checks a create-task body the way the real API does, so client bugs show up offline."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from airflow_evolink.emulator.models import AUTO, ModelRule, rule_for
from airflow_evolink.emulator.pricing import bill_uc, credits_figure

CALLBACK_URL_MAX = 2048


class ValidationError(Exception):
    """A 400 `invalid_request_error`; `param` names the offending field."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True)
class ValidRequest:
    """What the job store needs from an accepted body."""

    model: str
    rule: ModelRule
    duration: int
    callback_url: str | None
    #: What the task costs, in UC, by the rules the emulator publishes (pricing.py).
    uc: int = 0

    @property
    def credits(self) -> int | float:
        """The price in credits (1 credit = 10,000 UC), as the API's credit figures show it."""
        return credits_figure(self.uc)


def validate(body: Mapping[str, Any]) -> ValidRequest:
    """Return the accepted request or raise ValidationError for the first broken rule."""
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ValidationError("model", "model is required and must be a non-empty string")
    rule = rule_for(model)
    _check_text(body, "prompt", rule.prompt_max)
    _check_text(body, "negative_prompt", None)
    duration = _check_duration(body, rule, model)
    _check_enum(body, "quality", rule.qualities, model)
    _check_enum(body, "aspect_ratio", rule.aspect_ratios, model)
    for name, allowed in rule.enums.items():
        _check_enum(body, name, allowed, model)
    if "model_params" in body and not isinstance(body["model_params"], dict):
        raise ValidationError("model_params", "model_params must be a JSON object")
    if rule.frame_images:
        _check_frame_images(body, rule, model)
    _check_url_list(body, "image_urls", rule.image_urls, rule, model)
    for name, limits in rule.url_lists.items():
        _check_url_list(body, name, limits, rule, model)
    callback_url = _check_callback_url(body)
    for check in rule.checks:
        problem = check(body, duration)
        if problem is not None:
            raise ValidationError(*problem)
    uc = bill_uc(model, body, duration)
    return ValidRequest(model=model, rule=rule, duration=duration, callback_url=callback_url, uc=uc)


def is_http_url(value: object) -> bool:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_text(body: Mapping[str, Any], name: str, limit: int | None) -> None:
    if name not in body:
        return
    value = body[name]
    if not isinstance(value, str):
        raise ValidationError(name, f"{name} must be a string (omit the field rather than sending null)")
    if limit is not None and len(value) > limit:
        raise ValidationError(name, f"{name} must be at most {limit} characters (got {len(value)})")


def _describe(values: frozenset[int]) -> str:
    auto = " or -1 (automatic)" if AUTO in values else ""
    values = values - {AUTO}
    low, high = min(values), max(values)
    if len(values) == high - low + 1 and len(values) > 3:
        return f"an integer from {low} to {high}{auto}"
    return "one of " + ", ".join(str(v) for v in sorted(values)) + auto


def _check_duration(body: Mapping[str, Any], rule: ModelRule, model: str) -> int:
    if "duration" not in body:
        return rule.default_duration
    value = body["duration"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("duration", f"duration must be an integer number of seconds, not {value!r}")
    if rule.durations is None:
        # -1 ("pick the length") is a documented value for several families; never refuse it blindly.
        if value < 1 and value != AUTO:
            raise ValidationError("duration", "duration must be a positive integer, or -1 (automatic)")
    elif value not in rule.durations:
        raise ValidationError("duration", f"duration must be {_describe(rule.durations)} for {model}")
    # The job needs a length to bill and to report: an automatic one is the model's default.
    return rule.default_duration if value == AUTO else value


def _check_enum(body: Mapping[str, Any], name: str, allowed: frozenset[str] | None, model: str) -> None:
    if name not in body:
        return
    value = body[name]
    if not isinstance(value, str):
        raise ValidationError(name, f"{name} must be a string")
    if allowed is not None and value not in allowed:
        choices = ", ".join(sorted(allowed))
        raise ValidationError(name, f"{name} must be one of {choices} for {model} (got {value!r})")


def _check_frame_images(body: Mapping[str, Any], rule: ModelRule, model: str) -> None:
    for name in ("image_start", "image_end"):
        if name in body and not is_http_url(body[name]):
            raise ValidationError(name, f"{name} must be an http(s) URL string")
    if rule.image_start_required and "image_start" not in body:
        raise ValidationError("image_start", f"image_start (the first frame URL) is required for {model}")
    if "image_end" in body and "image_start" not in body:
        raise ValidationError("image_end", "image_end (last frame) requires image_start (first frame)")


def _check_url_list(
    body: Mapping[str, Any], name: str, limits: tuple[int, int | None], rule: ModelRule, model: str
) -> None:
    low, high = limits
    value = body.get(name)
    if value is None and name not in body:
        if low > 0:
            raise ValidationError(name, f"{name} is required for {model}: {_count(low, high)}")
        return
    if not isinstance(value, list):
        raise ValidationError(name, f"{name} must be a JSON array of URL strings")
    if high == 0 and value:
        if rule.frame_images:
            hint = "pass the first frame as image_start and the last frame as image_end"
        else:
            hint = "use an image-to-video or reference model for images"
        raise ValidationError(name, f"{name} is not accepted by {model}; {hint}")
    if len(value) < low or (high is not None and len(value) > high):
        raise ValidationError(name, f"{name} must hold {_count(low, high)} for {model} (got {len(value)})")
    for index, item in enumerate(value):
        if not is_http_url(item):
            raise ValidationError(name, f"{name}[{index}] must be an http(s) URL string")


def _count(low: int, high: int | None) -> str:
    if high is None:
        return f"at least {low} item(s)"
    return f"exactly {low} item(s)" if low == high else f"{low} to {high} items"


def _check_callback_url(body: Mapping[str, Any]) -> str | None:
    if "callback_url" not in body:
        return None
    url = body["callback_url"]
    if not isinstance(url, str):
        raise ValidationError("callback_url", "callback_url must be a string")
    if len(url) > CALLBACK_URL_MAX:
        raise ValidationError("callback_url", f"callback_url must be at most {CALLBACK_URL_MAX} characters")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValidationError("callback_url", "callback_url must be an https:// URL")
    if _is_internal_host(parts.hostname):
        raise ValidationError(
            "callback_url", "callback_url must not point to localhost or a private/internal address"
        )
    return url


def _is_internal_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
    )

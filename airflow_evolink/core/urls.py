"""URL rules: input image URLs and the callback URL (HTTPS only, no private or loopback address)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from airflow_evolink.core.errors import EvolinkValidationError

CALLBACK_URL_MAX_LENGTH = 2048


def check_http_url(field: str, value: str, *, model: str | None = None) -> None:
    """An input image must be an absolute http(s) URL that Evolink's servers can fetch."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EvolinkValidationError(field, "must be an absolute http:// or https:// URL", value, model=model)


def check_callback_url(value: str, *, model: str | None = None) -> None:
    """Evolink refuses callbacks that are not HTTPS, longer than 2048 chars, or aimed at internal hosts."""
    field = "callback_url"
    if len(value) > CALLBACK_URL_MAX_LENGTH:
        raise EvolinkValidationError(
            field, f"must be at most {CALLBACK_URL_MAX_LENGTH} characters (has {len(value)})", model=model
        )
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise EvolinkValidationError(field, "must use https://", value, model=model)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise EvolinkValidationError(field, "must name a host", value, model=model)
    if host == "localhost" or host.endswith(".localhost"):
        raise EvolinkValidationError(
            field, "must not point at localhost: Evolink cannot reach it", value, model=model
        )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_unspecified
        or address.is_reserved
        or address.is_multicast
    ):
        raise EvolinkValidationError(
            field,
            "must not be a private, loopback or internal address: Evolink refuses them",
            value,
            model=model,
        )

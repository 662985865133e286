"""URL rules: input image URLs and the callback URL (HTTPS only, no private or loopback address)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from airflow_evolink.core.errors import EvolinkValidationError

CALLBACK_URL_MAX_LENGTH = 2048


def check_http_url(field: str, value: str, *, model: str | None = None) -> None:
    """An input image must be an absolute http(s) URL that Evolink's servers can fetch."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
    if parts.scheme not in ("http", "https") or not host or any(ch.isspace() for ch in value):
        raise EvolinkValidationError(
            field, "must be an absolute http:// or https:// URL with a host and no spaces", value, model=model
        )


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
    address = _ip_literal(host)
    if address is None:
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


def _ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names when it is an IP literal, including the short and numeric IPv4 forms
    (``127.1``, ``2130706433``, ``0x7f000001``) that resolvers accept."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if all(ch in "0123456789abcdefx." for ch in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None

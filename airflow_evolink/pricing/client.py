"""Read a model's published pricing rules over HTTP, cached, and price requests with them.

``GET {base}/v1/catalog/models/{model}/pricing-rules?view=full`` is public: no API key is sent (no
``Authorization`` header at all), so pricing works from a connection without a key, and the key never
travels to a route that does not need it. The base URL is the connection's API base URL, so the emulator
and a staging host are priced the way they bill. 5xx answers, timeouts and dropped connections are retried
with the project's :class:`~airflow_evolink.core.retry.RetryPolicy` (tenacity), like every other read.

What "no price" means is decided here, once: a 404 (no published rules), a 5xx or network failure after
the retries, or a body that does not follow the schema make :meth:`PricingClient.estimate` return an
``unavailable`` estimate with the reason. It never raises for those; the caller's guard decides. When
revalidating fails but the cached rules are still within their ``fresh_until``, they are used. A failure
is remembered for ``failure_ttl`` seconds (30 by default), so pricing many requests of one model asks once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
from tenacity import Retrying

from airflow_evolink.core.errors import EvolinkConnectionError, EvolinkError, EvolinkNotFoundError
from airflow_evolink.core.protocol import MAX_RESPONSE_BYTES, USER_AGENT, ApiCall, error_from_response
from airflow_evolink.core.retry import RetryPolicy
from airflow_evolink.pricing.cache import (
    DEFAULT_REVALIDATE_AFTER,
    FAILURE_TTL,
    SHARED_CACHE,
    CachedRules,
    RulesCache,
    parse_timestamp,
)
from airflow_evolink.pricing.estimate import CostEstimate
from airflow_evolink.pricing.evaluate import estimate_from_rules
from airflow_evolink.pricing.rules import RulesDocument, RulesError, parse_rules

RULES_PATH = "/v1/catalog/models/{model}/pricing-rules"
RULES_QUERY = "view=full"
DEFAULT_TIMEOUT = (10.0, 30.0)

_log = logging.getLogger(__name__)


class PricingUnavailable(Exception):
    """No usable rules for a model; the message says why (for the estimate's ``reason``)."""


def rules_url(base_url: str, model: str) -> str:
    return f"{base_url.rstrip('/')}{RULES_PATH.format(model=quote(model.lower(), safe=''))}?{RULES_QUERY}"


def rules_headers(etag: str | None) -> dict[str, str]:
    """Headers for the public route: never ``Authorization``."""
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT, "Cache-Control": "no-cache"}
    if etag:
        headers["If-None-Match"] = etag
    return headers


@dataclass(frozen=True)
class _Answer:
    status: int
    etag: str | None
    body: Any


class PricingClient:
    """Prices requests from the rules published at a base URL; safe to share between threads.

    :param session: a ``requests`` session (a private one by default: no connection headers, no key).
    :param retry_policy: how 5xx and network failures are retried.
    :param cache: where rules are kept (the process-wide one by default).
    :param clock: Unix seconds now (tests move it to expire the cache).
    :param revalidate_after: seconds a read is used before it is revalidated with ``If-None-Match``.
    :param failure_ttl: seconds a failure to read a model's rules is remembered (no request meanwhile).
    """

    def __init__(
        self,
        *,
        session: requests.Session | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        cache: RulesCache = SHARED_CACHE,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        revalidate_after: float = DEFAULT_REVALIDATE_AFTER,
        failure_ttl: float = FAILURE_TTL,
        log: Any = None,
    ) -> None:
        self._session = session
        self.retry_policy = retry_policy or RetryPolicy()
        self.timeout = timeout
        self.cache = cache
        self._clock = clock
        self._sleep = sleep
        self.revalidate_after = revalidate_after
        self.failure_ttl = failure_ttl
        self.log = log or _log

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def estimate(
        self,
        base_url: str,
        body: Mapping[str, Any],
        *,
        usage: Mapping[str, Any] | None = None,
        spec_defaults: Mapping[str, Any] | None = None,
    ) -> CostEstimate:
        """The estimate for one request body; ``unavailable`` (with the reason) when no price is readable."""
        model = body.get("model")
        if not isinstance(model, str) or not model.strip():
            return CostEstimate.unavailable(str(model or ""), "the request names no model")
        try:
            document = self.rules(base_url, model)
        except PricingUnavailable as error:
            return CostEstimate.unavailable(model, str(error))
        return estimate_from_rules(document, body, usage=usage, spec_defaults=spec_defaults)

    def rules(self, base_url: str, model: str) -> RulesDocument:
        """The model's rules: from the cache while usable, else read (or revalidated) from ``base_url``."""
        key = (base_url.rstrip("/"), model.lower())
        now = self._clock()
        entry = self.cache.get(key)
        if entry is not None and entry.usable(now):
            return entry.document
        remembered = self.cache.failure(key, now)
        if remembered is not None:
            raise PricingUnavailable(remembered)
        try:
            return self._read(key, base_url, model, entry, now)
        except PricingUnavailable as error:
            self.cache.remember_failure(key, str(error), self._clock() + self.failure_ttl)
            raise

    def _read(
        self, key: tuple[str, str], base_url: str, model: str, entry: CachedRules | None, now: float
    ) -> RulesDocument:
        conditional = entry if entry is not None and entry.fresh(now) else None
        try:
            answer = self._get(rules_url(base_url, model), conditional.etag if conditional else None)
            if answer.status == 304 and conditional is None:
                # A 304 to a request without If-None-Match: nothing to keep, so ask plainly once more.
                answer = self._get(rules_url(base_url, model), None)
        except EvolinkError as error:
            if isinstance(error, EvolinkNotFoundError) or getattr(error, "http_status", None) == 404:
                # Authoritative: the model has no published rules here (now); forget older ones.
                self.cache.drop(key)
                raise PricingUnavailable(
                    f"{base_url} publishes no pricing rules for {model} (HTTP 404)"
                ) from None
            if conditional is not None:
                self.log.warning(
                    "Revalidating the pricing rules of %s failed (%s); the cached rules are fresh until %s",
                    model,
                    error,
                    conditional.document.meta.fresh_until,
                )
                return conditional.document
            raise PricingUnavailable(f"the pricing rules of {model} could not be read: {error}") from None
        now = self._clock()
        if answer.status == 304 and conditional is not None:
            conditional.revalidate_at = min(now + self.revalidate_after, conditional.fresh_until)
            return conditional.document
        try:
            document = parse_rules(answer.body, model)
            fresh_until = parse_timestamp(document.meta.fresh_until)
        except (RulesError, ValueError) as error:
            self.cache.drop(key)
            raise PricingUnavailable(f"the pricing rules of {model} are malformed: {error}") from None
        if fresh_until <= now:
            raise PricingUnavailable(
                f"the pricing rules of {model} were stale when read (fresh_until {document.meta.fresh_until})"
            )
        revalidate_at = min(now + self.revalidate_after, fresh_until)
        self.cache.put(key, CachedRules(document, answer.etag, fresh_until, revalidate_at))
        return document

    def _get(self, url: str, etag: str | None) -> _Answer:
        call = ApiCall("GET", url.split("?", 1)[0])
        retrying = Retrying(sleep=self._sleep, **self.retry_policy.tenacity_kwargs(call, self.log))
        return retrying(lambda: self._send(url, etag))

    def _send(self, url: str, etag: str | None) -> _Answer:
        """One attempt; network failures become retryable :class:`EvolinkConnectionError`."""
        try:
            response = self.session.get(
                url,
                headers=rules_headers(etag),
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.RequestException as error:
            raise EvolinkConnectionError(f"pricing rules at {url}: {error}", sent=True) from None
        try:
            body = _read_limited(response)
        except requests.exceptions.RequestException as error:
            raise EvolinkConnectionError(f"pricing rules at {url}: {error}", sent=True) from None
        finally:
            response.close()
        etag_header = response.headers.get("ETag")
        if response.status_code == 304:
            return _Answer(304, etag_header, None)
        if not 200 <= response.status_code < 300:
            raise error_from_response(response.status_code, response.headers, body)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise PricingUnavailable(f"the pricing rules at {url} are not JSON") from None
        return _Answer(response.status_code, etag_header, data)


def _read_limited(response: requests.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise PricingUnavailable(f"the pricing rules are larger than {MAX_RESPONSE_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)

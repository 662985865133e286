"""Rules read once and kept per (base URL, model) until they must be asked for again: no I/O here.

An entry is used without a request until ``revalidate_at`` (at most ``revalidate_after`` seconds after it
was read or revalidated, never past the rules' own ``meta.fresh_until``). After that the client asks again
with ``If-None-Match``; a 304 keeps the entry while the rules are still fresh. Rules past ``fresh_until``
are never used. Evolink's own client revalidates every 60 s within ``fresh_until`` (evolink-cli
``services/pricing-rules-client.js``), which is the default here.

A failure (a 404, a 5xx after the retries, malformed rules) is remembered for ``FAILURE_TTL`` seconds, so
a planner pricing 1,000 requests of a model without rules asks once, not 1,000 times with retries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from airflow_evolink.pricing.rules import RulesDocument

DEFAULT_REVALIDATE_AFTER = 60.0
#: Seconds a failure to read a model's rules is remembered before the route is asked again.
FAILURE_TTL = 30.0
MAX_ENTRIES = 512

CacheKey = tuple[str, str]


@dataclass
class CachedRules:
    document: RulesDocument
    etag: str | None
    #: ``meta.fresh_until`` as Unix seconds: never used after it.
    fresh_until: float
    #: Unix seconds after which the rules are asked for again (If-None-Match).
    revalidate_at: float

    def usable(self, now: float) -> bool:
        return now < self.revalidate_at and now < self.fresh_until

    def fresh(self, now: float) -> bool:
        return now < self.fresh_until


class RulesCache:
    """A small thread-safe LRU map; one is shared by every hook in the process."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[CacheKey, CachedRules] = OrderedDict()
        self._failures: dict[CacheKey, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: CacheKey) -> CachedRules | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def failure(self, key: CacheKey, now: float) -> str | None:
        """Why the rules could not be read, while that is remembered (``until`` not reached)."""
        with self._lock:
            remembered = self._failures.get(key)
            if remembered is None:
                return None
            if now >= remembered[1]:
                del self._failures[key]
                return None
            return remembered[0]

    def remember_failure(self, key: CacheKey, reason: str, until: float) -> None:
        with self._lock:
            self._failures[key] = (reason, until)
            while len(self._failures) > self._max:
                self._failures.pop(next(iter(self._failures)))

    def put(self, key: CacheKey, entry: CachedRules) -> None:
        with self._lock:
            self._failures.pop(key, None)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def drop(self, key: CacheKey) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._failures.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


#: The process-wide cache (a planner pricing 1,000 requests reads each model's rules once).
SHARED_CACHE = RulesCache()


def clear_pricing_cache() -> None:
    """Forget every cached rule and remembered failure (for tests that switch the pricing routes)."""
    SHARED_CACHE.clear()


def parse_timestamp(text: str) -> float:
    """``meta.fresh_until`` (ISO 8601 with an offset or ``Z``) as Unix seconds; ValueError otherwise."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return moment.timestamp()

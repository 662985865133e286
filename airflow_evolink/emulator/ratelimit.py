"""A token bucket shared by all /v1 routes."""

from __future__ import annotations

import math


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up. Callers hold the state lock."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> int:
        """0 when a token was taken, else the whole seconds to wait (at least 1) for `Retry-After`."""
        elapsed = max(0.0, now - self._stamp)
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self._tokens) / self.rate))

    def refill(self, now: float) -> None:
        self._tokens = self.burst
        self._stamp = now

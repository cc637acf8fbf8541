"""Token-bucket rate limiting of the public promise API (one bucket per client).

Pure: the caller passes the clock reading ``now`` (seconds, monotonic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """A bucket of ``capacity`` tokens refilled at ``rate`` tokens per second.

    Rule: tokens(now) = min(capacity, tokens(last) + rate * (now - last)); a request is admitted when
    tokens(now) >= 1 and then costs one token. A refused request waits
    retry_after = (1 - tokens(now)) / rate seconds until one token is back.
    """

    capacity: float
    rate: float
    tokens: float
    last: float

    @classmethod
    def full(cls, capacity: float, rate: float, now: float) -> TokenBucket:
        if capacity < 1 or rate <= 0:
            raise ValueError("capacity must be >= 1 and rate > 0")
        return cls(capacity=capacity, rate=rate, tokens=capacity, last=now)

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.last)
        self.tokens = min(self.capacity, self.tokens + self.rate * elapsed)
        self.last = max(self.last, now)

    def take(self, now: float) -> tuple[bool, float]:
        """(admitted, retry_after_s): admit and spend one token, or say how long until one is back."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True, 0.0
        return False, (1.0 - self.tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """Retry-After in whole seconds, rounded up, at least 1: ceil(max(seconds, 1))."""
    return str(max(1, math.ceil(seconds)))

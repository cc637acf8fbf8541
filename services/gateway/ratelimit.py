"""Per-client token buckets for the public promise API (see domain.token_bucket for the rule)."""

from __future__ import annotations

import time

from services.gateway.domain.token_bucket import TokenBucket


class RateLimiter:
    """One bucket per client id; buckets are created full on a client's first request."""

    def __init__(self, capacity: float, rate: float, *, max_clients: int = 100_000) -> None:
        self.capacity = capacity
        self.rate = rate
        self.max_clients = max_clients
        self.buckets: dict[str, TokenBucket] = {}

    def take(self, client: str, now: float | None = None) -> tuple[bool, float]:
        moment = time.monotonic() if now is None else now
        bucket = self.buckets.get(client)
        if bucket is None:
            if len(self.buckets) >= self.max_clients:
                self.buckets.clear()
            bucket = self.buckets[client] = TokenBucket.full(self.capacity, self.rate, moment)
        return bucket.take(moment)

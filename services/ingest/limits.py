"""Per-tenant rate limiting at the front door (a token bucket per tenant, in memory)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from uuid import UUID


@dataclass
class TenantRateLimiter:
    """`rate` events per second per tenant, with bursts up to `burst` events.

    Counted in events, not requests, so a batch of 100 costs 100. Each ingest process
    keeps its own buckets: N instances allow N times the rate (documented).
    """

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[UUID, tuple[float, float]] = field(default_factory=dict)

    def take(self, tenant_id: UUID, events: int) -> float:
        """Take `events` tokens; 0 if allowed, else seconds until they would be."""
        now = self.clock()
        tokens, last = self._buckets.get(tenant_id, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if events <= tokens:
            self._buckets[tenant_id] = (tokens - events, now)
            return 0.0
        self._buckets[tenant_id] = (tokens, now)
        if events > self.burst:
            return math.inf  # can never pass: the batch is larger than the burst
        return (events - tokens) / self.rate

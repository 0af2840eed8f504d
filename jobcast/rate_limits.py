"""Rate limits at the HTTP edge: a token bucket per key (a tenant, a client address), in memory.

One mechanism for every limit the services apply: job events per tenant (ingest), reads per
tenant (the read API), failed authentications per client address (every API). Each process
keeps its own buckets: N instances allow N times the rate (documented).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

KeyT = TypeVar("KeyT", bound=Hashable)

DEFAULT_MAX_KEYS = 100_000


@dataclass
class RateLimiter(Generic[KeyT]):
    """`rate` tokens per second per key, with bursts up to `burst` tokens.

    What a token is belongs to the caller: an event (a batch of 100 costs 100), a read, a
    failed authentication. At most `max_keys` buckets are kept: past that, buckets that
    have refilled (the same as none) are dropped, then, if a flood of distinct keys keeps
    them all partly spent, the oldest half (those keys start again with a full burst).
    """

    rate: float
    burst: float
    clock: Callable[[], float] = time.monotonic
    max_keys: int = DEFAULT_MAX_KEYS
    _buckets: dict[KeyT, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: KeyT, tokens: float = 1) -> float:
        """Take `tokens`; 0 if allowed, else seconds until they would be (inf: never, as
        more than `burst` at once can never pass)."""
        now = self.clock()
        available = self._available(key, now)
        if tokens <= available:
            self._store(key, available - tokens, now)
            return 0.0
        self._store(key, available, now)
        if tokens > self.burst:
            return math.inf
        return (tokens - available) / self.rate

    def wait(self, key: KeyT) -> float:
        """Seconds until one token is available (0: now), taking nothing."""
        available = self._available(key, self.clock())
        return 0.0 if available >= 1 else (1 - available) / self.rate

    def _available(self, key: KeyT, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return self.burst
        tokens, last = bucket
        return min(self.burst, tokens + (now - last) * self.rate)

    def _store(self, key: KeyT, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self.max_keys:
            self._prune(now)
        self._buckets[key] = (tokens, now)

    def _prune(self, now: float) -> None:
        full = [
            k
            for k, (t, last) in self._buckets.items()
            if t + (now - last) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
        excess = len(self._buckets) - self.max_keys // 2
        if excess > 0:  # dicts keep insertion order: the first keys are the oldest
            for key in list(self._buckets)[:excess]:
                del self._buckets[key]


def retry_after(wait: float) -> str:
    """A `Retry-After` value (whole seconds, at least 1) for a wait from `take` or `wait`."""
    return "3600" if math.isinf(wait) else str(max(1, math.ceil(wait)))

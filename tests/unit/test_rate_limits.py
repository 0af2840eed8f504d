"""The token bucket behind every rate limit."""

from __future__ import annotations

import math
from uuid import UUID, uuid4

from jobcast.rate_limits import RateLimiter
from tests.clock import ManualClock


def test_bursts_then_waits_then_refills() -> None:
    clock = ManualClock(0.0)
    limiter = RateLimiter[UUID](rate=10, burst=100, clock=clock)
    tenant = uuid4()
    assert limiter.take(tenant, 100) == 0
    assert limiter.take(tenant, 20) == 2.0  # 20 tokens at 10/s
    clock.now += 2
    assert limiter.take(tenant, 20) == 0


def test_tenants_are_independent_and_oversized_batches_never_pass() -> None:
    limiter = RateLimiter[UUID](rate=10, burst=100, clock=ManualClock(0.0))
    a, b = uuid4(), uuid4()
    assert limiter.take(a, 100) == 0
    assert limiter.take(b, 100) == 0
    assert math.isinf(limiter.take(a, 101))

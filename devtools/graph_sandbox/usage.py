"""Moving-window counters for call budgets and the IG publishing quota (O(1) amortised)."""

from __future__ import annotations

import math
from collections import deque


class _Bucket:
    __slots__ = ("count", "start")

    def __init__(self, start: float, count: int) -> None:
        self.start = start
        self.count = count


class RollingCounter:
    """Counts events over a moving window using fixed-size time buckets.

    Each ``add`` touches only the newest bucket and drops expired ones from the left, so the cost
    per call is constant however hard a test hammers an account.
    """

    __slots__ = ("_bucket_s", "_buckets", "_total", "_window_s")

    def __init__(self, window_s: float = 3600.0, bucket_s: float = 60.0) -> None:
        self._window_s = window_s
        self._bucket_s = bucket_s
        self._buckets: deque[_Bucket] = deque()
        self._total = 0

    def _expire(self, now: float) -> None:
        horizon = now - self._window_s
        buckets = self._buckets
        while buckets and buckets[0].start + self._bucket_s <= horizon:
            self._total -= buckets.popleft().count

    def add(self, now: float, n: int = 1) -> int:
        """Record ``n`` events at ``now``; return the total inside the window."""
        self._expire(now)
        start = now - (now % self._bucket_s)
        if self._buckets and self._buckets[-1].start == start:
            self._buckets[-1].count += n
        else:
            self._buckets.append(_Bucket(start, n))
        self._total += n
        return self._total

    def total(self, now: float) -> int:
        """Events inside the window ending at ``now``."""
        self._expire(now)
        return self._total

    def seconds_until_at_most(self, now: float, limit: int) -> float:
        """Seconds until the windowed total drops to ``limit`` or below (0 if already there)."""
        total = self.total(now)
        if total <= limit:
            return 0.0
        for bucket in self._buckets:
            total -= bucket.count
            if total <= limit:
                return max(0.0, bucket.start + self._bucket_s + self._window_s - now)
        return self._window_s  # pragma: no cover - the loop always empties the window


def percent(used: int, budget: int) -> int:
    """Usage as an integer percentage of ``budget`` (0 when the budget is disabled)."""
    if budget <= 0:
        return 0
    return (used * 100) // budget


def minutes_ceil(seconds: float) -> int:
    """Round seconds up to whole minutes (Meta reports regain times in minutes)."""
    return max(0, math.ceil(seconds / 60.0))


class PublishWindow:
    """Exact timestamps of IG publishes inside the moving quota window."""

    __slots__ = ("_events", "_window_s")

    def __init__(self, window_s: float) -> None:
        self._window_s = window_s
        self._events: deque[float] = deque()

    def count(self, now: float) -> int:
        """Publishes inside the window ending at ``now``."""
        horizon = now - self._window_s
        events = self._events
        while events and events[0] <= horizon:
            events.popleft()
        return len(events)

    def add(self, now: float) -> None:
        """Record one publish at ``now``."""
        self._events.append(now)

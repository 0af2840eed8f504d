"""Consumers that keep failing: what `/readyz` and `jobcast_consumer_stalled` report.

A handler failing on infrastructure (database or broker away) is retried in place and
its record redelivered, never skipped (see `jobcast.failures`): the consumer waits, and
nothing else would tell. Every consumer reports each failed try here (`failed`) and each
record that ended (`recovered`); a consumer whose failures have gone on for longer than
`stall_seconds` (JOBCAST_STALL_SECONDS, default 60) with the failing record(s) never
getting through is *stalled*: `/readyz` answers 503 naming the group, topic, since when
and the failure's type, and the gauge reads 1 until a record gets through.

`where` says what is being retried: a record in flight (`ConcurrentConsumer`, which
retries in place forever) or a partition (faststream subscribers, whose record comes back
on the same partition after a redelivery). An entry no failure has renewed for a while
(the partition moved to another member, the consumer stopped) is forgotten.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge

log = logging.getLogger(__name__)

DEFAULT_STALL_SECONDS = 60.0
# A failing entry not renewed by a new failure for this long (or stall_seconds, if longer)
# is forgotten: retries come every few seconds (5 s at most by default) while it is real.
_FORGET_AFTER_S = 30.0

STALLED = Gauge(
    "jobcast_consumer_stalled",
    "1 while a consumer's handler has kept failing (retried in place, redelivered) for longer "
    "than JOBCAST_STALL_SECONDS with the failing records not getting through, else 0",
    ["group", "topic"],
)


@dataclass(frozen=True, slots=True)
class Stall:
    """One stalled consumer, as `/readyz` shows it."""

    group: str
    topic: str
    since: float  # wall clock (epoch seconds) of the first failure of the oldest entry
    seconds: float
    error: str  # the last failure's type: never its message (it may quote a value)
    failures: int

    def describe(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "topic": self.topic,
            "since": datetime.fromtimestamp(self.since, UTC).isoformat(timespec="seconds"),
            "seconds": round(self.seconds),
            "error": self.error,
            "failures": self.failures,
        }


@dataclass(slots=True)
class _Failing:
    first: float  # monotonic
    first_wall: float
    last: float  # monotonic
    error: str
    failures: int


class StallWatch:
    """Which consumers keep failing, and since when (one per process: `STALLS`)."""

    def __init__(
        self,
        stall_seconds: float = DEFAULT_STALL_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._failing: dict[tuple[str, str], dict[Hashable, _Failing]] = {}
        self._stalled: set[tuple[str, str]] = set()

    def watch(self, group: str, topic: str) -> None:
        """Export the consumer's gauge at 0 from the start ("not stalled", not "no data")."""
        STALLED.labels(group=group, topic=topic).set(1 if (group, topic) in self._stalled else 0)

    def failed(self, group: str, topic: str, where: Hashable, exc: BaseException) -> None:
        """A try of the handler for `where` raised and will be retried (in place or by a
        redelivery)."""
        now = self._clock()
        entries = self._failing.setdefault((group, topic), {})
        entry = entries.get(where)
        if entry is None:
            entries[where] = _Failing(now, self._wall_clock(), now, type(exc).__name__, 1)
        else:
            entry.last, entry.error, entry.failures = now, type(exc).__name__, entry.failures + 1
        self._refresh(group, topic)

    def recovered(self, group: str, topic: str, where: Hashable) -> None:
        """What was retried for `where` ended: handled, dead-lettered, or given up on."""
        entries = self._failing.get((group, topic))
        if entries is not None and entries.pop(where, None) is not None:
            if not entries:
                del self._failing[(group, topic)]
            self._refresh(group, topic)

    def stalls(self) -> list[Stall]:
        """Every stalled consumer now (the gauges are brought up to date on the way)."""
        found = []
        for group, topic in sorted({*self._failing, *self._stalled}):
            stall = self._refresh(group, topic)
            if stall is not None:
                found.append(stall)
        return found

    def _refresh(self, group: str, topic: str) -> Stall | None:
        now = self._clock()
        entries = self._failing.get((group, topic), {})
        forget_after = max(_FORGET_AFTER_S, self.stall_seconds)
        for where in [w for w, e in entries.items() if now - e.last > forget_after]:
            del entries[where]
        if not entries:
            self._failing.pop((group, topic), None)
        oldest = min(entries.values(), key=lambda e: e.first, default=None)
        stall = None
        if oldest is not None and now - oldest.first >= self.stall_seconds:
            latest = max(entries.values(), key=lambda e: e.last)
            stall = Stall(
                group,
                topic,
                oldest.first_wall,
                now - oldest.first,
                latest.error,
                sum(e.failures for e in entries.values()),
            )
        key = (group, topic)
        if stall is not None and key not in self._stalled:
            self._stalled.add(key)
            log.error("consumer stalled: its handler keeps failing", extra=stall.describe())
        elif stall is None and key in self._stalled:
            self._stalled.discard(key)
            log.warning("consumer no longer stalled", extra={"group": group, "topic": topic})
        STALLED.labels(group=group, topic=topic).set(0 if stall is None else 1)
        return stall


STALLS = StallWatch()
"""The process's watch: every consumer reports to it, `/readyz` and the gauge read it."""

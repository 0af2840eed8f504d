"""Lanes: records of one lane run in offset order, lanes run concurrently."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from jobcast.kafka.records import ConsumedRecord

T = TypeVar("T")


def lane_by_key(record: ConsumedRecord) -> str:
    """Default lane: the record key (same key → sequential), else the record's partition."""
    if record.key is not None:
        return "k:" + record.key.hex()
    return f"p:{record.topic}:{record.partition}"


@dataclass(slots=True)
class _Lane(Generic[T]):
    running: int = 0
    waiting: deque[T] = field(default_factory=deque)


class LaneScheduler(Generic[T]):
    """Admission per lane: at most `concurrency` items of a lane run at once, in submit order.

    Pure bookkeeping: the caller starts an item when `submit` or `finish` says so and calls
    `finish` exactly once for every started item.
    """

    def __init__(self, concurrency: int = 1) -> None:
        if concurrency < 1:
            raise ValueError("lane concurrency must be at least 1")
        self._concurrency = concurrency
        self._lanes: dict[str, _Lane[T]] = {}

    def submit(self, lane: str, item: T) -> bool:
        """Queue `item` on `lane`; True when it may start now (it then counts as running)."""
        state = self._lanes.get(lane)
        if state is None:
            state = self._lanes[lane] = _Lane()
        # Never overtake waiting items, or a lane would lose its order.
        if state.running < self._concurrency and not state.waiting:
            state.running += 1
            return True
        state.waiting.append(item)
        return False

    def finish(self, lane: str) -> T | None:
        """A running item of `lane` ended; returns the next item to start, if any."""
        state = self._lanes[lane]
        if state.waiting:
            return state.waiting.popleft()  # takes over the freed slot
        state.running -= 1
        if state.running == 0:
            del self._lanes[lane]
        return None

    def drop(self, predicate: Callable[[T], bool]) -> list[T]:
        """Remove and return waiting (never started) items matching `predicate`."""
        dropped: list[T] = []
        for state in self._lanes.values():
            keep: deque[T] = deque()
            for item in state.waiting:
                (dropped if predicate(item) else keep).append(item)
            state.waiting = keep
        return dropped

    @property
    def running(self) -> int:
        """Items started and not finished."""
        return sum(state.running for state in self._lanes.values())

    @property
    def waiting(self) -> int:
        """Items queued behind their lane."""
        return sum(len(state.waiting) for state in self._lanes.values())

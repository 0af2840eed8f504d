"""Lanes: records of one lane take their turns in offset order; lanes run concurrently."""

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
    running: list[T] = field(default_factory=list)  # started, in the order they started
    waiting: deque[T] = field(default_factory=deque)


class LaneScheduler(Generic[T]):
    """Admission per lane, in submit order: at most `concurrency` items of a lane hold its
    turn at once, and up to `ahead` more may start before their turn comes.

    An item started ahead does what it can before its turn (whatever does not decide the
    order the lane exists for) and then waits until `has_turn`: every item started before
    it has finished, or all but `concurrency - 1` of them. With `ahead=0` (the default)
    every started item has its turn at once.

    Pure bookkeeping: the caller starts an item when `submit` or `finish` says so and calls
    `finish` exactly once for every started item.
    """

    def __init__(self, concurrency: int = 1, ahead: int = 0) -> None:
        if concurrency < 1:
            raise ValueError("lane concurrency must be at least 1")
        if ahead < 0:
            raise ValueError("items ahead cannot be fewer than 0")
        self._concurrency = concurrency
        self._slots = concurrency + ahead
        self._lanes: dict[str, _Lane[T]] = {}

    def submit(self, lane: str, item: T) -> bool:
        """Queue `item` on `lane`; True when it may start now (it then counts as running)."""
        state = self._lanes.get(lane)
        if state is None:
            state = self._lanes[lane] = _Lane()
        # Never overtake waiting items, or a lane would lose its order.
        if len(state.running) < self._slots and not state.waiting:
            state.running.append(item)
            return True
        state.waiting.append(item)
        return False

    def has_turn(self, lane: str, item: T) -> bool:
        """Whether started `item` holds its lane's turn (all before it but
        `concurrency - 1` have finished)."""
        state = self._lanes.get(lane)
        return state is not None and any(
            held is item for held in state.running[: self._concurrency]
        )

    def holding_turn(self, lane: str) -> list[T]:
        """The started items of `lane` that hold its turn."""
        state = self._lanes.get(lane)
        return [] if state is None else state.running[: self._concurrency]

    def finish(self, lane: str, item: T) -> T | None:
        """Started `item` of `lane` ended (its turn passes on); returns the next item to
        start, if any."""
        state = self._lanes[lane]
        for n, running in enumerate(state.running):
            if running is item:
                del state.running[n]
                break
        else:
            raise ValueError("finish for an item that is not running")
        if state.waiting:
            following = state.waiting.popleft()  # takes over the freed slot
            state.running.append(following)
            return following
        if not state.running:
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
        return sum(len(state.running) for state in self._lanes.values())

    @property
    def waiting(self) -> int:
        """Items queued behind their lane."""
        return sum(len(state.waiting) for state in self._lanes.values())

"""How far a partition's offsets may be committed while records finish out of order."""

from __future__ import annotations

from collections import deque


class OffsetWatermark:
    """Which offsets of one partition are done, and how far it is safe to commit.

    Offsets are added in increasing order (as fetched; gaps are fine) and completed in any
    order. The watermark is the lowest added offset not yet completed, or last added + 1
    when all are done: everything below it is handled, so committing it loses nothing.
    """

    __slots__ = ("_committed", "_next", "_order", "_outstanding")

    def __init__(self) -> None:
        self._order: deque[int] = deque()  # added offsets at or above the watermark
        self._outstanding: set[int] = set()  # added, not completed
        self._next: int | None = None  # last added + 1
        self._committed: int | None = None

    def add(self, offset: int) -> None:
        """Track a fetched offset; must be greater than every offset added before."""
        if self._next is not None and offset < self._next:
            raise ValueError(f"offset {offset} added out of order (next is {self._next})")
        if self._committed is None:
            # Fetching resumed here, so the group's committed offset is (at most) this one:
            # committing it again would be a wasted round trip.
            self._committed = offset
        self._order.append(offset)
        self._outstanding.add(offset)
        self._next = offset + 1

    def complete(self, offset: int) -> None:
        """Mark an added offset as handled (in any order)."""
        try:
            self._outstanding.remove(offset)
        except KeyError:
            raise ValueError(f"offset {offset} is not in flight") from None
        order = self._order
        while order and order[0] not in self._outstanding:
            order.popleft()

    @property
    def watermark(self) -> int | None:
        """Lowest offset not yet completed (None before the first add)."""
        return self._order[0] if self._order else self._next

    @property
    def next_offset(self) -> int | None:
        """Last added offset + 1: anything below it is already tracked."""
        return self._next

    @property
    def in_flight(self) -> int:
        """Offsets added and not yet completed."""
        return len(self._outstanding)

    @property
    def committed(self) -> int | None:
        """The last committed watermark (or where fetching started)."""
        return self._committed

    def to_commit(self) -> int | None:
        """The watermark if it advanced past the last commit, else None."""
        mark = self.watermark
        if mark is None or (self._committed is not None and mark <= self._committed):
            return None
        return mark

    def mark_committed(self, offset: int) -> None:
        """Record a successful commit of `offset`."""
        if self._committed is None or offset > self._committed:
            self._committed = offset

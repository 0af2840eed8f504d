"""Group commit: concurrent callers share one round trip to Postgres or Kafka.

A single-event HTTP request or one post's claim costs mostly its round trips (a
statement, a produce request: a few syscalls each, on a machine shared with the broker
and the database), not its own work. A `MicroBatcher` lets every caller that arrives
while earlier work is busy ride along in the next flush instead: ingest accepts job
events this way, publishers write claims, outcomes and checkpoints this way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from jobcast.failures import is_deterministic

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")

Flush = Callable[[Sequence[ItemT]], Awaitable[Sequence[ResultT]]]


class MicroBatcher(Generic[ItemT, ResultT]):
    """Runs `flush` over the items submitted while earlier flushes were busy.

    No timer and no added latency when idle: an item submitted while fewer than
    `max_in_flight` flushes run is flushed on the next turn of the event loop (with
    whatever else was submitted in the same turn). Under load, items queue until a
    flush finishes and then go together, up to `max_weight` (e.g. events) per flush,
    so the batch size follows the load by itself.

    `linger_seconds` lets a flush wait that long for company, but only under load: when
    items arrived while the flush before was waiting or under way (so more are on their
    way, and a wait collects them), and the queue does not hold `enough_weight` yet (by
    default a full flush). Each flush then carries more items, so fewer round trips (and
    wake-ups of every process on the way) do the same work. A waiting flush goes as soon as
    the queue holds `enough_weight`, so fast traffic waits little however long the linger
    is; and the waiting stops as soon as a flush sees nobody arrive. Callers that
    send nothing until answered (a closed loop: a client with its requests in flight, a
    consumer waiting for its poll's answers) never make it wait, and neither does traffic
    slower than about one item per flush.

    `flush` returns one result per item, in order. If it raises a failure of
    infrastructure (`jobcast.failures`: database or broker away, a timeout, a deadlock),
    every item of that flush gets the exception (each waiting request answers for itself
    and retries). If it raises anything else, one odd item may be at fault, and the others
    must not fail with it: the batch is flushed again in halves (left before right, so
    items keep their order), down to the items that fail alone, which get the exception.
    With one bad item among n, that is about 2·log2(n) more flushes, only when it happens;
    `flush` must be safe to run again for items it has already written (idempotent).
    """

    def __init__(
        self,
        flush: Flush[ItemT, ResultT],
        *,
        max_weight: int = 1_000,
        max_in_flight: int = 2,
        weight: Callable[[ItemT], int] = lambda _: 1,
        linger_seconds: float = 0.0,
        enough_weight: int | None = None,
    ) -> None:
        if max_weight < 1 or max_in_flight < 1:
            raise ValueError("max_weight and max_in_flight must be at least 1")
        if linger_seconds < 0:
            raise ValueError("linger_seconds must not be negative")
        if enough_weight is not None and not 1 <= enough_weight <= max_weight:
            raise ValueError("enough_weight must be between 1 and max_weight")
        self._flush = flush
        self._max_weight = max_weight
        self._max_in_flight = max_in_flight
        self._weight = weight
        self._linger = linger_seconds
        self._enough = max_weight if enough_weight is None else enough_weight
        self._submitted = 0  # items, ever
        self._company = False  # whether items arrived while the last flush waited or ran
        # Each item with its weight, taken once: what leaves the queue subtracts what came in.
        self._pending: deque[tuple[ItemT, int, asyncio.Future[ResultT]]] = deque()
        self._pending_weight = 0
        self._wake: asyncio.Future[None] | None = None  # a lingering flush's, while it waits
        self._in_flight = 0
        self._starting = False  # a flush task was created and has not taken its items yet
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: ItemT) -> ResultT:
        """Wait until `item` was flushed; its result, or the flush's exception."""
        future: asyncio.Future[ResultT] = asyncio.get_running_loop().create_future()
        self._submitted += 1
        weight = self._weight(item)
        self._pending.append((item, weight, future))
        self._pending_weight += weight
        if self._wake is not None and self._pending_weight >= self._enough:
            _wake_up(self._wake)
        self._maybe_start()
        # A waiter that gives up (client gone) does not pull its item out: once queued,
        # it is flushed like the others; only its answer is dropped.
        return await future

    async def drain(self) -> None:
        """Wait until everything submitted so far has been flushed."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _maybe_start(self) -> None:
        if self._pending and not self._starting and self._in_flight < self._max_in_flight:
            self._in_flight += 1
            self._starting = True
            task = asyncio.get_running_loop().create_task(self._run())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[tuple[ItemT, asyncio.Future[ResultT]]]:
        item, weight, future = self._pending.popleft()  # one item always goes, however heavy
        batch = [(item, future)]
        while self._pending and weight + self._pending[0][1] <= self._max_weight:
            item, item_weight, future = self._pending.popleft()
            batch.append((item, future))
            weight += item_weight
        self._pending_weight -= weight
        return batch

    async def _run(self) -> None:
        submitted_before = self._submitted
        if self._linger and self._company and self._pending_weight < self._enough:
            # Still `_starting`: what arrives meanwhile joins this flush, none starts beside it.
            try:
                await self._wait_for_company()
            except BaseException:  # cancelled (shutdown): the slot is free again
                self._starting = False
                self._in_flight -= 1
                raise
        self._starting = False
        batch = self._take() if self._pending else []
        self._maybe_start()  # the rest, if this flush is full and a slot is free
        try:
            if batch:
                await self._flush_batch(batch)
        finally:
            self._company = self._submitted > submitted_before
            self._in_flight -= 1
            self._maybe_start()

    async def _wait_for_company(self) -> None:
        loop = asyncio.get_running_loop()
        self._wake = wake = loop.create_future()
        timer = loop.call_later(self._linger, _wake_up, wake)
        try:
            await wake
        finally:
            timer.cancel()
            self._wake = None

    async def _flush_batch(self, batch: list[tuple[ItemT, asyncio.Future[ResultT]]]) -> None:
        try:
            results = await self._flush([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"flush returned {len(results)} results for {len(batch)} items")
        except Exception as exc:
            if len(batch) > 1 and is_deterministic(exc):
                half = len(batch) // 2
                await self._flush_batch(batch[:half])
                await self._flush_batch(batch[half:])
                return
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (shutdown): nobody waits forever
            for _, future in batch:
                future.cancel()
            raise
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)


def _wake_up(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_result(None)

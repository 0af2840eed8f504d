"""Coalescing concurrent calls into batches: one round trip for many callers.

A publisher runs hundreds of posts at once and each needs a database write before and
after its Graph call. One statement per post costs more CPU (in the client and in
Postgres) than the work itself; one statement per batch of whatever is waiting costs
almost nothing per post. There is no timer: a batch is whatever arrived while the
previous batch ran (or in the same event-loop turn), so a lone caller waits for no one
and a busy service gets big batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")

BatchCall = Callable[[Sequence[In]], Awaitable[Sequence[Out]]]


class Coalescer(Generic[In, Out]):
    """`await submit(item)` returns this item's share of one `run(batch)` call.

    `run` gets up to `max_batch` items in submit order and must return one result per
    item, in the same order. If it raises, every caller of that batch gets the
    exception (each caller decides whether to retry). At most `max_concurrent` batches
    run at once; the rest of the callers queue for the next one.
    """

    def __init__(self, run: BatchCall[In, Out], *, max_batch: int = 200, max_concurrent: int = 1):
        if max_batch < 1 or max_concurrent < 1:
            raise ValueError("max_batch and max_concurrent must be at least 1")
        self._run = run
        self._max_batch = max_batch
        self._max_concurrent = max_concurrent
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._running = 0
        self._batches = 0

    @property
    def batches(self) -> int:
        """Batches run so far (for tests and metrics)."""
        return self._batches

    async def submit(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._running < self._max_concurrent:
            self._running += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            # One loop turn first, so callers that are ready in this turn join the batch.
            await asyncio.sleep(0)
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._run_batch(batch)
        finally:
            self._running -= 1
            if self._running == 0 and self._waiting:  # cancelled with callers still queued
                for _, future in self._waiting:
                    future.cancel()
                self._waiting.clear()

    async def _run_batch(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        self._batches += 1
        try:
            results = await self._run([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch call returned {len(results)} results for {len(batch)}")
        except asyncio.CancelledError:
            for _, future in batch:  # nobody would ever wake them otherwise
                future.cancel()
            raise
        except Exception as exc:  # handed to each caller, who decides about retrying
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # its caller may have been cancelled meanwhile
                future.set_result(result)

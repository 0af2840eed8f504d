"""Working through durable timer rows: a background loop takes what is due (leased, so
other instances skip it), handles it side by side, and waits only when nothing was due.

A pass that fails on the database or the network is logged and the next one tries again:
the rows stay due (or come back when their lease runs out), so nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

Due = TypeVar("Due")

PASSING_FAILURES: tuple[type[Exception], ...] = (OSError, asyncpg.PostgresError)
"""What a pass may meet and the next pass outlives: Postgres or the network away."""


async def work_through_due(
    stop: asyncio.Event,
    take: Callable[[], Awaitable[Sequence[Due]]],
    handle: Callable[[Due], Awaitable[object]],
    *,
    poll_seconds: float,
    log: logging.Logger,
    what: str,
) -> None:
    """Until `stop`: take the due rows, handle them concurrently, and when none were due
    wait `poll_seconds` (or for `stop`). A failed pass is logged on `log` as "`what` pass
    failed" and counts as one with nothing due."""
    while not stop.is_set():
        try:
            due = await take()
            await asyncio.gather(*(handle(d) for d in due))
        except PASSING_FAILURES:
            log.exception("%s pass failed; trying again", what)
            due = []
        if not due:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)

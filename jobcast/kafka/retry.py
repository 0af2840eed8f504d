"""The one retry loop every Kafka path uses: both consumers and the dead-letter hook.

A failure of infrastructure (`jobcast.failures.is_infrastructure`: the database or broker
away, a timeout, a deadlock) goes away by waiting: it is retried in place, slower each
time, because dropping a good record is worse than waiting. A deterministic failure would
fail the same on every try and hold up everything behind it: it is not retried but handed
to `isolate` (a dead letter, or a batch's bisection).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

# Seconds between tries; the last one repeats while tries are left.
DEFAULT_RETRY_DELAYS: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0, 5.0)


async def call_until_success(
    call: Callable[[], Awaitable[None]],
    delays: Sequence[float],
    *,
    on_failure: Callable[[int, float], None],
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    retry_if: Callable[[Exception], bool] | None = None,
    isolate: Callable[[Exception], Awaitable[None]] | None = None,
    attempts: int | None = None,
) -> int:
    """Await `call` until it returns; returns the number of tries. CancelledError
    propagates and is never retried.

    A failure `retry_if` accepts (all of them by default) is retried after the next delay
    (the last one repeats), with no give-up unless `attempts` is given: after that many
    tries the failure is raised, for the caller to have the record redelivered. A failure
    `retry_if` refuses is not retried: handed to `isolate` (the call then counts as done),
    or raised when there is none. `on_failure(attempt, delay)` runs inside the `except`
    block of every failure that is retried (`sys.exception()` is the failure).
    """
    if not delays:
        raise ValueError("at least one retry delay is needed")
    attempt = 0
    while True:
        attempt += 1
        try:
            await call()
        except Exception as exc:  # CancelledError is a BaseException: it propagates
            if retry_if is not None and not retry_if(exc):
                if isolate is None:
                    raise
                await isolate(exc)
                return attempt
            if attempts is not None and attempt >= attempts:
                raise
            delay = delays[min(attempt, len(delays)) - 1]
            on_failure(attempt, delay)
            await sleep(delay)
        else:
            return attempt

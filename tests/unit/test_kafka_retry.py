"""The one retry loop (`jobcast.kafka.retry`) and the decision every consumer makes with
it (`jobcast.kafka.handling.settle`): infrastructure failures are retried in place with
backoff, deterministic ones are isolated at once and never retried."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from jobcast.failures import is_infrastructure
from jobcast.kafka.handling import settle
from jobcast.kafka.retry import call_until_success
from jobcast.stalls import STALLS


class DataError(ValueError):
    """Like asyncpg's DataError: a value the database refuses, on every try."""


class Calls:
    """A call that fails with the given exceptions, in turn, then succeeds."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.count = 0

    async def __call__(self) -> None:
        self.count += 1
        if self.failures:
            raise self.failures.pop(0)


class Counter:
    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1) -> None:
        self.value += amount


class Retried:
    """What the retry loop did: the delays it slept and the failures it isolated."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.isolated: list[Exception] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    async def isolate(self, exc: Exception) -> None:
        self.isolated.append(exc)

    async def run(
        self, call: Callable[[], Awaitable[None]], delays: tuple[float, ...], attempts: int | None
    ) -> int:
        return await call_until_success(
            call,
            delays,
            on_failure=lambda *_: None,
            sleep=self.sleep,
            retry_if=is_infrastructure,
            isolate=self.isolate,
            attempts=attempts,
        )


async def test_an_infrastructure_failure_is_retried_with_backoff_then_succeeds() -> None:
    call = Calls(ConnectionRefusedError(111, "refused"), TimeoutError(), OSError("reset"))
    retried = Retried()
    assert await retried.run(call, (0.1, 0.4), attempts=10) == 4
    assert call.count == 4
    assert retried.slept == [0.1, 0.4, 0.4]  # slower each time, the last delay repeating
    assert retried.isolated == []


async def test_a_deterministic_failure_is_isolated_at_once_not_retried() -> None:
    bad = DataError("invalid input for query argument $1: 3000000000")
    call = Calls(bad)
    retried = Retried()
    assert await retried.run(call, (0.1,), attempts=None) == 1
    assert call.count == 1
    assert retried.isolated == [bad]
    assert retried.slept == []


async def test_out_of_tries_an_infrastructure_failure_is_raised_for_a_redelivery() -> None:
    call = Calls(*(ConnectionResetError() for _ in range(5)))
    retried = Retried()
    with pytest.raises(ConnectionResetError):
        await retried.run(call, (0.0,), attempts=3)
    assert call.count == 3
    assert retried.isolated == []  # a good record waiting for the database is never parked


async def settled(call: Calls, *, isolating: bool) -> tuple[list[Exception], float]:
    """Run `call` through `settle` as a consumer would; what it isolated, how many retries."""
    retries = Counter()
    isolated: list[Exception] = []

    async def isolate(exc: Exception) -> None:
        isolated.append(exc)

    try:
        await settle(
            call,
            group_id="unit-settle",
            topic="t",
            where=(0,),
            retries=retries,
            delays=(0.0,),
            attempts=None,
            isolate=isolate if isolating else None,
            log_fields=lambda: {"topic": "t"},
        )
    finally:
        STALLS.recovered("unit-settle", "t", 0)  # no stall left for other tests to see
    return isolated, retries.value


async def test_settle_retries_infrastructure_and_counts_each_retry() -> None:
    call = Calls(ConnectionRefusedError(111, "refused"), ConnectionRefusedError(111, "refused"))
    assert await settled(call, isolating=True) == ([], 2)
    assert call.count == 3


async def test_settle_isolates_a_deterministic_failure_without_a_retry() -> None:
    bad = DataError("value out of int32 range")
    call = Calls(bad)
    assert await settled(call, isolating=True) == ([bad], 0)
    assert call.count == 1


async def test_settle_without_isolate_retries_every_failure() -> None:
    call = Calls(DataError("bad"), DataError("bad"))
    assert await settled(call, isolating=False) == ([], 2)
    assert call.count == 3


async def test_cancellation_is_never_retried_nor_isolated() -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    retried = Retried()
    with pytest.raises(asyncio.CancelledError):
        await retried.run(cancelled, (0.0,), attempts=None)
    assert retried.isolated == []
    assert retried.slept == []

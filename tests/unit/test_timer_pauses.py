"""How long the timer loops sleep between passes: until the next timer, within bounds."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import pytest

from jobcast.kafka import ConcurrentConsumer, ConsumedRecord, polling
from services.distributor.clock import Clock
from services.distributor.dispatch import Dispatcher
from services.publishing.worker import _sleep


def dispatcher(poll: float = 0.2, idle: float = 1.0) -> tuple[Dispatcher, Clock]:
    clock = Clock()
    pool, producer = cast(Any, None), cast(Any, None)  # _pause touches neither
    return Dispatcher(pool, producer, clock, poll_seconds=poll, idle_seconds=idle), clock


def test_no_timer_sleeps_the_idle_wait() -> None:
    timers, _ = dispatcher()
    assert timers._pause(None) == 1.0


def test_a_timer_due_soon_waits_at_least_the_poll_interval() -> None:
    timers, clock = dispatcher()
    assert timers._pause(clock.now() + timedelta(seconds=0.05)) == 0.2
    assert timers._pause(clock.now() - timedelta(seconds=5)) == 0.2


def test_a_timer_within_the_idle_wait_is_slept_until() -> None:
    timers, clock = dispatcher()
    assert timers._pause(clock.now() + timedelta(seconds=0.6)) == pytest.approx(0.6, abs=0.05)


def test_a_far_timer_is_looked_at_again_after_the_idle_wait() -> None:
    timers, clock = dispatcher()
    assert timers._pause(clock.now() + timedelta(hours=3)) == 1.0


def test_the_idle_wait_is_never_below_the_poll_interval() -> None:
    timers, _ = dispatcher(poll=2.0, idle=1.0)
    assert timers._pause(None) == 2.0


async def test_a_woken_sleep_ends_after_the_least_wait() -> None:
    stop, woken = asyncio.Event(), asyncio.Event()
    woken.set()
    async with asyncio.timeout(2):  # the longest wait would be 30 s
        await _sleep(stop, woken, 0.01, 30)


async def test_stop_ends_a_sleep_at_once() -> None:
    stop, woken = asyncio.Event(), asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    async with asyncio.timeout(2):
        await _sleep(stop, woken, 10, 30)


async def test_an_unwoken_sleep_lasts_the_longest_wait() -> None:
    stop, woken = asyncio.Event(), asyncio.Event()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await _sleep(stop, woken, 0.01, 30)


async def test_the_concurrent_consumer_takes_the_shared_waits() -> None:
    consumer = ConcurrentConsumer(
        bootstrap_servers="127.0.0.1:9", topics=["t"], group_id="g", handle=_ignore
    )._make_consumer()  # not started: no connection is made
    # The broker wait stays at the client's default (see jobcast.kafka.polling); the fetch
    # task wakes less often than its default 200 ms.
    assert consumer._fetch_max_wait_ms == polling.FETCH_MAX_WAIT_MS == 500
    assert consumer._consumer_timeout == polling.FETCHER_WAKE_MS / 1000 > 0.2


async def _ignore(record: ConsumedRecord) -> None:
    del record

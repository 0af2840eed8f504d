"""Coalescer: concurrent callers share batch calls, each gets its own answer or error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from jobcast.batching import Coalescer

pytestmark = pytest.mark.timeout(10)


class Recorder:
    def __init__(self, fail_on: int | None = None, pause: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on
        self.pause = pause
        self.running = 0
        self.most_running = 0

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.pause)
            if self.fail_on is not None and self.fail_on in items:
                raise ValueError(f"batch with {self.fail_on}")
            return [item * 10 for item in items]
        finally:
            self.running -= 1


async def test_callers_in_the_same_turn_share_one_batch() -> None:
    run = Recorder()
    coalescer = Coalescer(run)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(5)))
    assert results == [0, 10, 20, 30, 40]
    assert run.batches == [[0, 1, 2, 3, 4]]


async def test_a_lone_caller_does_not_wait_for_company() -> None:
    run = Recorder()
    coalescer = Coalescer(run)
    assert await asyncio.wait_for(coalescer.submit(7), timeout=1) == 70
    assert run.batches == [[7]]


async def test_callers_arriving_while_a_batch_runs_form_the_next_batch() -> None:
    run = Recorder(pause=0.05)
    coalescer = Coalescer(run)
    first = asyncio.ensure_future(coalescer.submit(1))
    await asyncio.sleep(0.01)  # the first batch is running now
    later = [asyncio.ensure_future(coalescer.submit(n)) for n in (2, 3, 4)]
    assert await asyncio.gather(first, *later) == [10, 20, 30, 40]
    assert run.batches == [[1], [2, 3, 4]]
    assert run.most_running == 1


async def test_max_batch_splits_and_max_concurrent_bounds_parallel_batches() -> None:
    run = Recorder(pause=0.02)
    coalescer = Coalescer(run, max_batch=3, max_concurrent=2)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(10)))
    assert results == [n * 10 for n in range(10)]
    assert all(len(batch) <= 3 for batch in run.batches)
    assert sorted(n for batch in run.batches for n in batch) == list(range(10))
    assert run.most_running == 2


async def test_a_failing_batch_fails_its_own_callers_only() -> None:
    run = Recorder(fail_on=2)
    coalescer = Coalescer(run, max_batch=2)
    outcomes = await asyncio.gather(
        *(coalescer.submit(n) for n in range(4)), return_exceptions=True
    )
    assert outcomes[0] == 0
    assert isinstance(outcomes[2], ValueError)
    assert isinstance(outcomes[3], ValueError)
    assert run.batches[0] == [0, 1]
    assert outcomes[1] == 10


async def test_a_wrong_number_of_results_is_an_error_for_every_caller() -> None:
    async def short(items: Sequence[int]) -> list[int]:
        return [1]

    coalescer: Coalescer[int, int] = Coalescer(short)
    outcomes = await asyncio.gather(
        coalescer.submit(1), coalescer.submit(2), return_exceptions=True
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_a_cancelled_caller_does_not_break_the_batch_for_others() -> None:
    run = Recorder(pause=0.05)
    coalescer = Coalescer(run)
    doomed = asyncio.ensure_future(coalescer.submit(1))
    kept = asyncio.ensure_future(coalescer.submit(2))
    await asyncio.sleep(0.01)
    doomed.cancel()
    assert await kept == 20
    assert doomed.cancelled()


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Coalescer(Recorder(), max_batch=0)

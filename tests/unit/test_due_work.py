"""The loop over durable timer rows: due rows are handled side by side, an empty pass waits,
a pass that fails on Postgres or the network is logged and the loop goes on, anything else
ends it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg
import pytest

from jobcast.due_work import work_through_due

pytestmark = pytest.mark.timeout(10)
log = logging.getLogger("test.due_work")


class Rows:
    """Hands out the prepared passes in turn (a pass is rows, or an error to raise), then
    nothing; sets `stop` once every pass has been taken."""

    def __init__(self, stop: asyncio.Event, *passes: Sequence[int] | Exception) -> None:
        self.passes = list(passes)
        self.stop = stop
        self.takes = 0

    async def take(self) -> Sequence[int]:
        self.takes += 1
        if not self.passes:
            self.stop.set()
            return []
        step = self.passes.pop(0)
        if isinstance(step, Exception):
            raise step
        return step


async def test_due_rows_are_handled_side_by_side_and_passes_follow_without_waiting() -> None:
    stop = asyncio.Event()
    rows = Rows(stop, [1, 2, 3], [4])
    running = 0
    most = 0
    handled: list[int] = []

    async def handle(row: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        handled.append(row)
        running -= 1

    # A poll far past the test's timeout: a wait after a pass with rows would show as one.
    await work_through_due(stop, rows.take, handle, poll_seconds=60, log=log, what="test")
    assert sorted(handled) == [1, 2, 3, 4]
    assert most == 3
    assert rows.takes == 3


async def test_an_empty_pass_waits_poll_seconds_before_the_next() -> None:
    stop = asyncio.Event()
    rows = Rows(stop, [], [], [7])
    handled: list[int] = []

    async def handle(row: int) -> None:
        handled.append(row)

    loop = asyncio.get_running_loop()
    started = loop.time()
    await work_through_due(stop, rows.take, handle, poll_seconds=0.2, log=log, what="test")
    assert loop.time() - started >= 0.4  # two empty passes, two waits
    assert handled == [7]


@pytest.mark.parametrize(
    "failure", [OSError("connection reset"), asyncpg.PostgresError("the database is away")]
)
async def test_a_pass_failing_on_postgres_or_the_network_is_logged_and_retried(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    rows = Rows(stop, failure, [5])
    handled: list[int] = []

    async def handle(row: int) -> None:
        handled.append(row)

    with caplog.at_level(logging.ERROR, logger=log.name):
        await work_through_due(stop, rows.take, handle, poll_seconds=0.01, log=log, what="test")
    assert handled == [5]
    assert [r.getMessage() for r in caplog.records] == ["test pass failed; trying again"]


async def test_any_other_error_ends_the_loop() -> None:
    stop = asyncio.Event()

    async def handle(row: int) -> None:
        raise ValueError(f"a bug on row {row}")

    with pytest.raises(ValueError, match="a bug on row 1"):
        await work_through_due(
            stop, Rows(stop, [1]).take, handle, poll_seconds=0.01, log=log, what="test"
        )

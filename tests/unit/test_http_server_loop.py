"""The services' HTTP server wakes once a second, not ten times, and still stops at once."""

from __future__ import annotations

import asyncio
import time

import uvicorn
from fastapi import FastAPI

from jobcast.service import _QuietServer


async def test_the_server_ticks_once_a_second_and_exits_at_once() -> None:
    server = _QuietServer(uvicorn.Config(FastAPI(), host="127.0.0.1", port=0, log_config=None))
    ticks: list[float] = []
    tick = server.on_tick

    async def counted(counter: int) -> bool:
        ticks.append(time.monotonic())
        return await tick(counter)

    server.on_tick = counted  # type: ignore[method-assign]
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(10):
        while not server.started:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.45)  # uvicorn's own loop: four or five ticks by now
    assert len(ticks) <= 1
    assert any(name == b"date" for name, _ in server.server_state.default_headers)
    exiting = time.monotonic()
    server.exit()
    async with asyncio.timeout(5):
        await serving
    assert time.monotonic() - exiting < 0.5

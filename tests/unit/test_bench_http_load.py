"""The benches' HTTP load generator against a small keep-alive server: answers in order,
failures counted (open loop) or raised (closed loop)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from bench.http_load import Target, closed_loop, open_loop


@asynccontextmanager
async def server(fail_every: int = 0) -> AsyncIterator[tuple[int, list[dict[str, object]]]]:
    """Answers each POST with its JSON body echoed (202), or 500 for every `fail_every`th."""
    seen: list[dict[str, object]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while head := await reader.readuntil(b"\r\n\r\n") if not reader.at_eof() else b"":
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            )
            body = await reader.readexactly(length)
            seen.append(json.loads(body))
            status = 500 if fail_every and len(seen) % fail_every == 0 else 202
            writer.write(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, length, body))
            await writer.drain()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(guarded, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        yield port, seen


async def test_closed_loop_sends_every_request_with_its_key_and_returns_the_answers() -> None:
    async with server() as (port, seen):
        target = Target(f"http://127.0.0.1:{port}/v1/job-events", "k-1")
        request = target.post({"n": 1})
        assert b"Authorization: Bearer k-1\r\n" in request
        bodies = await closed_loop(
            target.host, port, [target.post({"n": n}) for n in range(20)], clients=3
        )
    assert sorted(json.loads(b)["n"] for b in bodies) == list(range(20))
    assert sorted(int(str(s["n"])) for s in seen) == list(range(20))


async def test_closed_loop_raises_on_a_failed_request() -> None:
    async with server(fail_every=5) as (port, _):
        target = Target(f"http://127.0.0.1:{port}/x", "k")
        with pytest.raises(RuntimeError, match="answered 500"):
            await closed_loop(target.host, port, [target.post({}) for _ in range(10)], clients=1)


async def test_open_loop_paces_the_requests_and_counts_failures() -> None:
    async with server(fail_every=4) as (port, seen):
        target = Target(f"http://127.0.0.1:{port}/x", "k")
        started = asyncio.get_running_loop().time()
        latencies, failed = await open_loop(
            target.host, port, [target.post({"n": n}) for n in range(12)], rate=100, connections=2
        )
        took = asyncio.get_running_loop().time() - started
    assert len(seen) == 12
    assert failed == 3
    assert len(latencies) == 9
    assert took >= 11 / 100  # the last is due 11/rate s after the first

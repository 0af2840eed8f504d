"""The benches' HTTP load generator: cheap, so that it takes little of the two cores it
shares with what it measures.

httpx spent more CPU per request than ingest itself: here requests are serialised before
the clock starts, written as they are on keep-alive HTTP/1.1 connections, and answered by
callback (no task per request), responses parsed by httptools (C).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from urllib.parse import urlsplit

import httptools

Reply = Callable[[int, bytes], None]  # status (0: the request failed) and body


def succeeded(status: int) -> bool:
    return 200 <= status < 300


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._reply: Reply | None = None
        self._body: list[bytes] = []

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        connection = cls()
        loop = asyncio.get_running_loop()
        connection._transport, _ = await loop.create_connection(lambda: connection, host, port)
        return connection

    @property
    def usable(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def start(self, request: bytes, reply: Reply) -> None:
        """Write a whole request; `reply` is called once with its outcome."""
        assert self._transport is not None
        self._reply = reply
        self._transport.write(request)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """`start` as a coroutine: the status and body (status 0 if the request failed)."""
        answer: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self.start(request, lambda status, body: answer.set_result((status, body)))
        return await answer

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body, self._body = b"".join(self._body), []
        self._answer(self._parser.get_status_code(), body)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self._answer(0, b"connection lost")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _answer(self, status: int, body: bytes) -> None:
        reply, self._reply = self._reply, None
        if reply is not None:
            reply(status, body)


class Target:
    """Where requests go, with one bearer key, and their pre-serialised form."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None
        assert parts.port is not None
        self.host, self.port = parts.hostname, parts.port
        self._head = (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        ).encode()

    def post(self, body: object) -> bytes:
        """The whole request, `body` as JSON."""
        data = json.dumps(body).encode()
        return self._head + b"Content-Length: %d\r\n\r\n" % len(data) + data


async def closed_loop(host: str, port: int, requests: Iterable[bytes], clients: int) -> list[bytes]:
    """Send `requests` from `clients` connections, each its next request once the last is
    answered; the answers' bodies, in the order they came. Any failure raises."""
    waiting = deque(requests)
    bodies: list[bytes] = []

    async def sender() -> None:
        connection = await Connection.open(host, port)
        try:
            while waiting:
                status, body = await connection.send(waiting.popleft())
                if not succeeded(status):
                    raise RuntimeError(f"answered {status}: {body[:300]!r}")
                bodies.append(body)
        finally:
            connection.close()

    await asyncio.gather(*(sender() for _ in range(clients)))
    return bodies


class _OpenLoop:
    """Sends each request when it is due on an idle connection, or as soon as one frees up.

    Each latency runs from when the request was due, not when it could be sent: if the
    generator or a free connection lags, that wait counts too (no coordinated omission).
    """

    def __init__(self, connections: list[Connection]) -> None:
        self._idle = connections
        self._queued: deque[tuple[bytes, float]] = deque()  # due, but no connection free
        self.latencies: list[float] = []
        self.errors = 0
        self.outstanding = 0
        self.quiet = asyncio.Event()  # set while nothing is outstanding

    def due(self, request: bytes, due: float) -> None:
        self.outstanding += 1
        self.quiet.clear()
        self._queued.append((request, due))
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queued and self._idle:
            connection = self._idle.pop()
            if not connection.usable:
                continue  # lost (the server closed it): carry on with the others
            request, due = self._queued.popleft()
            connection.start(request, partial(self._answered, connection, due))

    def _answered(self, connection: Connection, due: float, status: int, _: bytes) -> None:
        self.outstanding -= 1
        if succeeded(status):
            self.latencies.append((time.perf_counter() - due) * 1000)
        else:
            self.errors += 1
        self._idle.append(connection)
        self._dispatch()
        if not self.outstanding:
            self.quiet.set()


async def open_loop(
    host: str, port: int, requests: Sequence[bytes], rate: float, connections: int
) -> tuple[list[float], int]:
    """Open loop: request n is due n/rate s after the start, whatever earlier ones are doing.
    Each answered request's latency in ms (from when it was due), and how many failed
    (what is unanswered 30 s after the last was due counts as failed)."""
    opened = [await Connection.open(host, port) for _ in range(connections)]
    load = _OpenLoop(opened)
    start = time.perf_counter()  # not loop.time(): uvloop's clock ticks in whole milliseconds
    sent = 0
    while sent < len(requests):
        while sent < len(requests) and start + sent / rate <= time.perf_counter():
            load.due(requests[sent], start + sent / rate)
            sent += 1
        # uvloop's timers have millisecond resolution: a shorter sleep would spin.
        await asyncio.sleep(max(start + sent / rate - time.perf_counter(), 0.001))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(load.quiet.wait(), timeout=30)
    for connection in opened:
        connection.close()
    return load.latencies, load.errors + load.outstanding

"""Keep-alive connections to one origin: a cap, a FIFO queue when at it, idle expiry."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque

import httpx

from jobcast.http_transport._connection import Connection

# A waiter is handed either a connection or None, which means "a slot is yours: connect".
_Handoff = Connection | None


class OriginPool:
    """Connections to one (scheme, host, port).

    `size` counts every connection that is open, opening or idle. A released connection
    goes straight to the longest waiter, so requests are served in arrival order.
    """

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None,
        *,
        max_connections: int,
        keepalive_expiry: float,
        max_body_bytes: int,
    ) -> None:
        self._host = host
        self._port = port
        self._ssl = ssl_context
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._max_body_bytes = max_body_bytes
        self._idle: deque[Connection] = deque()
        self._waiters: deque[asyncio.Future[_Handoff]] = deque()
        self._closed = False
        self.size = 0

    async def acquire(self, wait_limit: float | None, connect_limit: float | None) -> Connection:
        """A live connection: an idle one, a new one under the cap, or the next released."""
        loop = asyncio.get_running_loop()
        connection = self._take_idle(loop.time())
        if connection is not None:
            return connection
        if self.size < self._max:
            self.size += 1
        else:
            handed = await self._wait(loop, wait_limit)
            if handed is not None:
                if not handed.is_closed:
                    return handed
                handed.close()  # closed while being handed over: keep its slot, connect
        try:
            return await self._connect(loop, connect_limit)
        except BaseException:
            self._free_slot()
            raise

    def release(self, connection: Connection) -> None:
        """Give back a connection that finished an exchange and may be reused."""
        if self._closed:
            self.discard(connection)  # the transport was closed while it was busy
            return
        connection.reused = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        now = asyncio.get_running_loop().time()
        connection.idle_since = now
        self._idle.append(connection)
        self._expire_oldest(now)

    def discard(self, connection: Connection) -> None:
        """Close a connection that must not be reused and free its slot."""
        connection.close()
        self._free_slot()

    def close(self) -> None:
        """Close every idle connection; busy ones are closed when given back."""
        self._closed = True
        while self._idle:
            self.discard(self._idle.pop())

    def _take_idle(self, now: float) -> Connection | None:
        # Most recently used first: the least likely to have been closed by the server,
        # and the rest of the idle set is left to expire when traffic falls.
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed and now - connection.idle_since < self._expiry:
                return connection
            self.discard(connection)
        return None

    def _expire_oldest(self, now: float) -> None:
        while self._idle and (
            self._idle[0].is_closed or now - self._idle[0].idle_since >= self._expiry
        ):
            self.discard(self._idle.popleft())

    def _free_slot(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.size -= 1

    async def _wait(self, loop: asyncio.AbstractEventLoop, seconds: float | None) -> _Handoff:
        waiter: asyncio.Future[_Handoff] = loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                return await waiter
        except BaseException as exc:
            self._give_back(waiter)
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("timed out waiting for a connection") from None
            raise

    def _give_back(self, waiter: asyncio.Future[_Handoff]) -> None:
        # Cancelled or timed out just after being handed something: pass it on.
        if not waiter.done() or waiter.cancelled():
            waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)  # rare (timeouts): keep the queue to live waiters
            return
        handed = waiter.result()
        if handed is None:
            self._free_slot()
        elif handed.is_closed:
            self.discard(handed)
        else:
            self.release(handed)

    async def _connect(self, loop: asyncio.AbstractEventLoop, seconds: float | None) -> Connection:
        connection = Connection(loop, self._max_body_bytes)
        try:
            async with asyncio.timeout(seconds):
                await loop.create_connection(
                    lambda: connection,
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl is not None else None,
                )
        except TimeoutError:
            connection.close()
            raise httpx.ConnectTimeout(f"timed out connecting to {self._host}") from None
        except OSError as exc:  # ssl.SSLError and socket.gaierror are OSErrors
            raise httpx.ConnectError(f"cannot connect to {self._host}: {exc}") from None
        return connection

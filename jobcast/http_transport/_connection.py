"""One HTTP/1.1 connection: an asyncio protocol that parses responses with httptools.

A connection carries one exchange at a time (no pipelining). The protocol object is
also the parser's callback target, so a response costs a handful of C→Python calls
and no task, stream wrapper or cancel scope.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import cast

import httptools
import httpx

Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What came back: status, headers as received, the whole body, and whether the
    connection may carry another request."""

    status: int
    headers: Headers
    body: bytes
    keep_alive: bool


class ResponseTooLargeError(httpx.RemoteProtocolError):
    """The response body passed the transport's cap; the connection is closed."""


class Connection(asyncio.Protocol):
    """A keep-alive connection; `exchange` sends one request and reads its response."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_body_bytes: int) -> None:
        self._loop = loop
        self._max_body_bytes = max_body_bytes
        self._transport: asyncio.Transport | None = None
        self._closed = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
        # Per exchange; `_waiter` is None while the connection is idle.
        self._waiter: asyncio.Future[RawResponse] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._headers: Headers = []
        self._body: list[bytes] = []
        self._body_size = 0
        self._headers_done = False
        self._until_close = False  # neither Content-Length nor chunked: body ends at EOF
        self._no_body = False  # HEAD: headers only
        self._read_timeout: float | None = None
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.received_any = False  # a response byte arrived for the current exchange
        self.reused = False  # served a request before (so the server may have closed it)
        self.idle_since = 0.0

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done() or self._parser is None:
            # Bytes nobody asked for (e.g. a 408 before the server closes): unusable.
            self.close()
            return
        self.received_any = True
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(httpx.RemoteProtocolError(f"malformed response: {exc}"))
            return
        if self._body_size > self._max_body_bytes:
            self._complete(keep_alive=False)  # fails it: stop reading a body we refuse

    def eof_received(self) -> bool:
        return False  # let the transport close; connection_lost decides what EOF meant

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._stop_timer()
        if self._drained is not None and not self._drained.done():
            self._drained.set_exception(httpx.WriteError("connection lost while writing"))
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._headers_done and self._until_close:
            self._complete(keep_alive=False)
        elif self.received_any:
            self._fail(httpx.RemoteProtocolError("connection closed mid-response"))
        elif exc is not None:
            self._fail(httpx.ReadError(f"connection lost: {exc}"))
        else:
            self._fail(httpx.RemoteProtocolError("server disconnected without a response"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # -- httptools callbacks ----------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._waiter is not None and self._waiter.done():
            # A second response to one request: the server is out of step with us.
            self._closed = True
            self._headers = []  # never add to the headers already handed out
            if self._transport is not None:
                self._transport.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        self._headers_done = True
        framed = any(
            name.lower() in (b"content-length", b"transfer-encoding") for name, _ in self._headers
        )
        self._until_close = not framed
        if self._no_body and self._status() >= 200:
            # The parser would wait for the body a HEAD response only announces.
            self._complete(keep_alive=False)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size <= self._max_body_bytes:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._status() < 200:
            # An interim response (100 Continue, 103 Early Hints): the real one follows.
            self._headers, self._body, self._body_size = [], [], 0
            self._headers_done = False
            return
        assert self._parser is not None
        self._complete(keep_alive=self._parser.should_keep_alive())

    # -- the exchange -----------------------------------------------------------------

    @property
    def is_closed(self) -> bool:
        """True once the connection is unusable (closed by either side, or failed)."""
        return self._closed or self._transport is None or self._transport.is_closing()

    async def exchange(
        self,
        data: bytes,
        *,
        head_only: bool,
        write_timeout: float | None,
        read_timeout: float | None,
    ) -> RawResponse:
        """Write a serialized request and read the whole response."""
        if self.is_closed or self._transport is None:
            raise httpx.WriteError("connection closed before the request was written")
        self._start(head_only, read_timeout)
        waiter = self._waiter
        assert waiter is not None
        try:
            self._transport.write(data)
            if self._write_paused:
                await self._drain(write_timeout)
            self._arm_timer()
            return await waiter
        finally:
            self._end()

    def close(self) -> None:
        """Close now; a pending exchange fails with a read error."""
        self._closed = True
        self._stop_timer()
        if self._transport is not None:
            self._transport.close()
        self._fail(httpx.ReadError("connection closed"))

    def _start(self, head_only: bool, read_timeout: float | None) -> None:
        self._waiter = self._loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._headers, self._body, self._body_size = [], [], 0
        self._headers_done = self._until_close = False
        self._no_body = head_only
        self._read_timeout = read_timeout
        self.received_any = False

    def _end(self) -> None:
        # The read timer is left running: it stops by itself if it finds no exchange, and
        # the next exchange reuses it (see _arm_timer).
        waiter, self._waiter = self._waiter, None
        if waiter is not None and waiter.done() and not waiter.cancelled():
            waiter.exception()  # seen, even when a write error was what got raised
        self._parser = None
        self._body = []

    async def _drain(self, seconds: float | None) -> None:
        self._drained = self._loop.create_future()
        try:
            async with asyncio.timeout(seconds):
                await self._drained
        except TimeoutError:
            raise httpx.WriteTimeout("timed out writing the request") from None
        finally:
            self._drained = None

    def _arm_timer(self) -> None:
        if self._read_timeout is None or self._waiter is None:
            return
        self._last_read = now = self._loop.time()
        deadline = now + self._read_timeout
        # A timer still set from an earlier exchange fires before this deadline and moves
        # itself on (see _on_timer): a new timer per request cost ~3% of a publisher's CPU.
        if self._timer is not None and self._timer.when() <= deadline:
            return
        self._stop_timer()
        self._timer = self._loop.call_at(deadline, self._on_timer)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        # The read timeout bounds the silence between bytes (httpx's meaning), not the
        # whole response: reads push the deadline back, and the timer follows it.
        self._timer = None
        if self._waiter is None or self._waiter.done() or self._read_timeout is None:
            return
        deadline = self._last_read + self._read_timeout
        if self._loop.time() < deadline:
            self._timer = self._loop.call_at(deadline, self._on_timer)
            return
        self._fail(httpx.ReadTimeout("timed out reading the response"))
        self.close()

    def _status(self) -> int:
        assert self._parser is not None
        return int(self._parser.get_status_code())

    def _complete(self, *, keep_alive: bool) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._body_size > self._max_body_bytes:
            self._fail(ResponseTooLargeError(f"response body over {self._max_body_bytes} bytes"))
            return
        body = b"".join(self._body)
        waiter.set_result(RawResponse(self._status(), self._headers, body, keep_alive))

    def _fail(self, error: httpx.TransportError) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        if not self._closed:
            self.close()

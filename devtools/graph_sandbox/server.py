"""The sandbox's own HTTP/1.1 server: Graph calls answered without ASGI in between.

In a benchmark the sandbox shares two cores with the publisher it stands in for Meta
against, so every microsecond it spends is taken from the service being measured. Under
uvicorn a third of the sandbox's CPU went to the ASGI plumbing (scope dicts, a task and
two messages per request, header checks, and two socket writes per response). Here a
Graph request goes from httptools' parser straight to `handle_graph`, and its answer
leaves in one write. The control API (`/_sandbox/...`, FastAPI) is still served as ASGI,
through a small adapter: it is called a few times per test, not thousands of times a
second.

What it does not do: TLS, HTTP/2, `Expect: 100-continue`, request streaming (a body is
read whole before the handler runs; Graph bodies are small) and response streaming (an
ASGI response is buffered until its last chunk).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any, cast
from urllib.parse import unquote

import httptools
from starlette.types import ASGIApp, Message, Scope

from devtools.linkedin_sandbox.paths import is_linkedin_path

from .app import CONTROL_PREFIX
from .routes_graph import ResetResponse, handle_graph, request_of
from .state import SandboxState

log = logging.getLogger("graph_sandbox.server")

# Like uvicorn's default: an idle keep-alive connection is closed after this long.
IDLE_TIMEOUT_S = 5.0
_MAX_HEAD_BYTES = 64 * 1024


def status_line(status: int) -> bytes:
    """`HTTP/1.1 200 OK\\r\\n` (an unknown code gets an empty reason phrase)."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    return f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")


_STATUS_LINES = {status.value: status_line(status.value) for status in HTTPStatus}


def render(status: int, headers: list[tuple[bytes, bytes]], body: bytes, *, close: bool) -> bytes:
    """A whole response as bytes: status line, headers (Content-Length added when the
    handler gave none; names are expected in lower case), and the body."""
    fields = b"".join([b"%s: %s\r\n" % header for header in headers])
    # One line per header, or a name or value held a line break (header injection).
    if fields.count(b"\n") != len(headers) or fields.count(b"\r") != len(headers):
        raise ValueError("a response header holds a line break")
    if not any(name == b"content-length" for name, _ in headers):
        fields += b"content-length: %d\r\n" % len(body)
    if close:
        fields += b"connection: close\r\n"
    status_text = _STATUS_LINES.get(status) or status_line(status)
    return b"".join((status_text, fields, b"date: ", _http_date(), b"\r\n\r\n", body))


_date_cache: tuple[int, bytes] = (0, b"")


def _http_date() -> bytes:
    global _date_cache  # noqa: PLW0603 - one formatted date per second, not per response
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache = (now, formatdate(usegmt=True).encode("ascii"))
    return _date_cache[1]


@dataclass(slots=True)
class Incoming:
    """One parsed request."""

    method: str
    target: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    keep_alive: bool


class SandboxServer:
    """Serves `state`'s Graph API and `control_app` (ASGI) on one port."""

    def __init__(
        self, state: SandboxState, control_app: ASGIApp, *, access_log: bool = False
    ) -> None:
        self.state = state
        self.control_app = control_app
        self.access_log = access_log
        self.connections: set[HttpConnection] = set()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.all_closed = asyncio.Event()

    async def start(self, host: str, port: int, *, backlog: int = 4096) -> int:
        """Listen; returns the bound port (useful with port 0)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: HttpConnection(self), host, port, backlog=backlog, reuse_address=True
        )
        self._sweeper = loop.create_task(self._close_idle_connections())
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def _close_idle_connections(self) -> None:
        # One sweep a second rather than a timer per request: the timers cost more.
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            horizon = loop.time() - IDLE_TIMEOUT_S
            for connection in list(self.connections):
                if connection.idle_since is not None and connection.idle_since < horizon:
                    connection.close_when_idle()

    async def shutdown(self, grace_s: float) -> None:
        """Stop listening, let requests under way finish (up to `grace_s`), close the rest."""
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for connection in list(self.connections):
            connection.close_when_idle()
        if self.connections:
            self.all_closed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.all_closed.wait(), grace_s)
        for connection in list(self.connections):
            connection.abort()
        if self._server is not None:
            await self._server.wait_closed()


class HttpConnection(asyncio.Protocol):
    """One client connection: requests are answered in the order they arrived."""

    def __init__(self, server: SandboxServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[Incoming] = deque()
        self._busy = False
        self._closing = False
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self.idle_since: float | None = self._loop.time()  # None while a request is under way
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._head_bytes = 0
        self._body: list[bytes] = []
        # What `base_url` may need of the ASGI scope; fixed for the connection's life.
        self._scope: dict[str, Any] = {"scheme": "http", "server": None, "client": None}

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._scope["server"] = transport.get_extra_info("sockname")
        self._scope["client"] = transport.get_extra_info("peername")
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        if not self._server.connections:
            self._server.all_closed.set()
        self._transport = None
        if not self._lost.done():
            self._lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.idle_since = None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(b"400", b"upgrades are not supported")
        except httptools.HttpParserError:
            self._refuse(b"400", b"malformed request")

    # -- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url, self._headers, self._body, self._head_bytes = b"", [], [], 0

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))
        self._count_head(len(name) + len(value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method().decode("ascii")
        keep_alive = self._parser.should_keep_alive()
        self._queue.append(
            Incoming(method, self._url, self._headers, b"".join(self._body), keep_alive)
        )
        if not self._busy:
            self._next()

    # -- answering ----------------------------------------------------------------------

    def close_when_idle(self) -> None:
        """Finish what is queued, then close (graceful shutdown)."""
        self._closing = True
        if not self._busy and self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _next(self) -> None:
        if not self._queue:
            self._busy = False
            if self._closing and self._transport is not None:
                self._transport.close()
            self.idle_since = self._loop.time()
            return
        self._busy = True
        task = self._loop.create_task(self._answer(self._queue.popleft()))
        task.add_done_callback(self._answered)

    def _answered(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("request failed", exc_info=exc)
            self.abort()
            return
        self._next()

    async def _answer(self, request: Incoming) -> None:
        close = not request.keep_alive or self._closing
        parsed = httptools.parse_url(request.target)
        raw_path = parsed.path or b"/"
        path = raw_path.decode("latin-1")
        if "%" in path:
            path = unquote(path)
        query = parsed.query or b""
        if path.startswith(CONTROL_PREFIX) or is_linkedin_path(path):
            # The control API and the fake LinkedIn: ASGI apps (SandboxApp dispatches).
            status, headers, body = await self._asgi(request, path, raw_path, query)
            self._write(render(status, headers, body, close=close), close)
        else:
            answer = await handle_graph(
                self._server.state,
                request_of(
                    request.method, path, query=query, headers=request.headers,
                    body=request.body, scope=self._scope,
                ),
            )  # fmt: skip
            if isinstance(answer, ResetResponse):
                # A truncated answer, then a closed socket: the client cannot tell whether
                # the call took effect (it did, when the fault said so).
                self._write(answer.truncated(), True)
                return
            rendered = render(answer.status, answer.all_headers(), answer.body, close=close)
            self._write(rendered, close)
        if self._server.access_log:
            log.info("%s %s", request.method, path)

    def _write(self, data: bytes, close: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return  # the client left (e.g. a timeout fault outlasted its patience)
        transport.write(data)
        if close:
            self._closing = True
            transport.close()

    async def _asgi(
        self, request: Incoming, path: str, raw_path: bytes, query: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "path": path,
            "raw_path": raw_path,
            "root_path": "",
            "query_string": query,
            "headers": request.headers,
            "state": {},
            **self._scope,
        }
        body_sent = False
        started: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": request.body, "more_body": False}
            await self._lost
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
            elif message["type"] == "http.response.body" and request.method != "HEAD":
                chunks.append(message.get("body", b""))

        try:
            await self._server.control_app(scope, receive, send)
        except Exception:
            log.exception("control API request failed")
            if not started:
                return 500, [(b"content-type", b"text/plain")], b"Internal Server Error"
            raise
        headers = [(bytes(n).lower(), bytes(v)) for n, v in started.get("headers", [])]
        body = b"".join(chunks)
        if request.method == "HEAD" or any(n == b"content-length" for n, _ in headers):
            return int(started["status"]), headers, body
        # A streamed response (no length given): sent whole, with its length.
        return int(started["status"]), [h for h in headers if h[0] != b"transfer-encoding"], body

    # -- limits -------------------------------------------------------------------------

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > _MAX_HEAD_BYTES:
            raise httptools.HttpParserError("request head too large")

    def _refuse(self, status: bytes, reason: bytes) -> None:
        if self._transport is None or self._transport.is_closing():
            return  # refused already: what follows the bad bytes is not read
        body = reason + b"\n"
        self._transport.write(
            b"HTTP/1.1 " + status + b" Bad Request\r\ncontent-type: text/plain\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body) + body
        )
        self._transport.close()

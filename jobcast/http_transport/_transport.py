"""`LeanTransport`: httpx's transport interface over the keep-alive pools."""

from __future__ import annotations

import ssl
from collections.abc import Mapping

import httpx

from jobcast.http_transport._connection import Connection, RawResponse
from jobcast.http_transport._pool import OriginPool

# Safe to send twice: a stale keep-alive connection that fails before any response
# byte may have delivered the request, so only these are retried. Never POST: a post
# to Meta may have taken effect, and the caller reconciles instead.
RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_Origin = tuple[str, str, int]


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive on asyncio and httptools, for small request/response calls.

    Bodies are read whole (capped at `max_body_bytes`): made for JSON APIs, not
    downloads. Use as `httpx.AsyncClient(transport=LeanTransport(), base_url=...)`.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 4.0,
        max_body_bytes: int = 10 * 1024 * 1024,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._max_connections = max_connections
        # Below the common 5 s server keep-alive, so an idle connection is never reused
        # just as the server closes it.
        self._keepalive_expiry = keepalive_expiry
        self._max_body_bytes = max_body_bytes
        self._ssl_context = ssl_context
        self._pools: dict[_Origin, OriginPool] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send `request` on a pooled connection; retry once on a stale one if safe."""
        data = _serialize(request, await _body_of(request))
        raw = await self.exchange(
            request.url,
            request.method,
            data,
            request.extensions.get("timeout", {}),
            close_after=request.headers.get("connection", "").lower() == "close",
        )
        return httpx.Response(
            raw.status,
            headers=raw.headers,
            stream=httpx.ByteStream(raw.body),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def exchange(
        self,
        url: httpx.URL,
        method: str,
        data: bytes,
        timeouts: Mapping[str, float | None],
        *,
        close_after: bool = False,
    ) -> RawResponse:
        """Write `data` (a serialized request for `url`'s origin) on a pooled connection
        and read the whole response; retry once on a stale connection if `method` is safe.

        The HTTP part of `handle_async_request`, for callers that write their own request
        bytes (`LeanClient`) and skip httpx's request and response models."""
        pool = self._pool_for(url)
        head_only = method == "HEAD"
        may_retry = method in RETRYABLE_METHODS
        while True:
            connection = await pool.acquire(timeouts.get("pool"), timeouts.get("connect"))
            try:
                raw = await connection.exchange(
                    data,
                    head_only=head_only,
                    write_timeout=timeouts.get("write"),
                    read_timeout=timeouts.get("read"),
                )
            except httpx.TransportError as exc:
                pool.discard(connection)
                if may_retry and _stale(connection, exc):
                    may_retry = False
                    continue
                raise
            except BaseException:
                # Cancelled mid-exchange: the connection's state is unknown, never reuse.
                pool.discard(connection)
                raise
            if raw.keep_alive and not close_after and not connection.is_closed:
                pool.release(connection)
            else:
                pool.discard(connection)
            return raw

    async def aclose(self) -> None:
        """Close every idle connection and forget the pools."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def _pool_for(self, url: httpx.URL) -> OriginPool:
        scheme = url.scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        host = url.raw_host.decode("ascii")
        origin = (scheme, host, url.port or _DEFAULT_PORTS[scheme])
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = OriginPool(
                host,
                origin[2],
                self._tls_context() if scheme == "https" else None,
                max_connections=self._max_connections,
                keepalive_expiry=self._keepalive_expiry,
                max_body_bytes=self._max_body_bytes,
            )
        return pool

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context


def _stale(connection: Connection, error: httpx.TransportError) -> bool:
    """A reused connection that failed before any response byte: the server had closed it."""
    return (
        connection.reused
        and not connection.received_any
        and isinstance(error, httpx.WriteError | httpx.ReadError | httpx.RemoteProtocolError)
    )


async def _body_of(request: httpx.Request) -> bytes:
    try:
        return request.content  # bytes and form bodies are already read by httpx
    except httpx.RequestNotRead:
        return await request.aread()


def _serialize(request: httpx.Request, body: bytes) -> bytes:
    """The request line, headers and body as one buffer: one write, one syscall."""
    headers = request.headers
    raw = headers.raw
    if "transfer-encoding" in headers or (body and "content-length" not in headers):
        # A streamed body was read whole above: send it with a length instead.
        raw = [(n, v) for n, v in raw if n.lower() not in (b"transfer-encoding", b"content-length")]
        raw.append((b"Content-Length", str(len(body)).encode("ascii")))
    if "host" not in headers:
        raw.insert(0, (b"Host", request.url.netloc))
    parts = [request.method.encode("ascii"), b" ", request.url.raw_path, b" HTTP/1.1\r\n"]
    for name, value in raw:
        parts += (name, b": ", value, b"\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)

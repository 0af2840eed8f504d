"""An httpx client for tenant-chosen URLs that connects to public addresses only.

Checking a URL's host and then letting the HTTP client connect by name leaves a gap: the
client resolves the name again, and a DNS answer that changed meanwhile (rebinding), or
that holds a private address beside a public one, reaches inside jobcast's network. So
the check sits where the connection is made: httpcore hands its network backend the
host, `PublicOnlyBackend` resolves it once, refuses the connection if ANY address is not
public (`jobcast.destinations`), and connects to a checked address by number. httpcore
still sends `Host` and does TLS (SNI and certificate verification) for the URL's name,
since both come from the request's origin, not from the socket.
"""

from __future__ import annotations

import asyncio
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence

import httpcore
import httpx

from jobcast.destinations import IPAddress, parse_ip_literal, parse_resolved, resolved_problem

# (host, port) -> the addresses it resolves to, as text.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)
# httpx's own defaults.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)


class DestinationRefusedError(httpx.ConnectError):
    """The URL's host is, or resolves to, an address jobcast must not connect to.

    Deterministic (the same DNS answer is refused again), unlike other connect errors.
    """


async def system_resolver(host: str, port: int) -> list[str]:
    """`getaddrinfo`, as a connection by name would use it."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PublicOnlyBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, resolving and checking before every connection."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._resolve = resolver
        self._inner = inner if inner is not None else httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        started = loop.time()
        addresses = await self._addresses(host, port, timeout)
        problem = resolved_problem(host, addresses, allow_loopback=self._allow_loopback)
        if problem is not None:
            raise DestinationRefusedError(f"refused: {problem}")
        # By number, and only the addresses just checked: no second lookup to rebind.
        error: Exception | None = None
        for address in addresses:
            left = None if timeout is None else max(0.0, timeout - (loop.time() - started))
            try:
                return await self._inner.connect_tcp(
                    str(address), port, left, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def _addresses(self, host: str, port: int, seconds: float | None) -> list[IPAddress]:
        literal = parse_ip_literal(host)
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(seconds):
                answers = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"timed out resolving {host}") from None
        except OSError as exc:  # socket.gaierror
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        try:
            return [parse_resolved(answer) for answer in answers]
        except ValueError:
            raise httpcore.ConnectError(f"{host} resolved to something not an address") from None

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's signature)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefusedError("refused: a unix socket is not a public destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PublicOnlyTransport(httpx.AsyncHTTPTransport):
    """`httpx.AsyncHTTPTransport` whose connections go through `PublicOnlyBackend`.

    httpx takes no network backend, so the httpcore pool it builds is replaced by one
    that has ours; the constructor fails loudly if httpx stops keeping its pool where
    this expects, rather than sending through an unchecked one.
    """

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        resolver: Resolver = system_resolver,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        limits: httpx.Limits = _LIMITS,
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        if not isinstance(getattr(self, "_pool", None), httpcore.AsyncConnectionPool):
            raise RuntimeError("httpx.AsyncHTTPTransport no longer keeps its pool in _pool")
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PublicOnlyBackend(
                allow_loopback=allow_loopback, resolver=resolver, inner=network_backend
            ),
        )


def public_only_client(
    *,
    allow_loopback: bool = False,
    resolver: Resolver = system_resolver,
    network_backend: httpcore.AsyncNetworkBackend | None = None,
    **kwargs: typing.Any,
) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` that reaches public addresses only and follows no redirect.

    Environment proxies are ignored (`trust_env=False`): a proxy would make the connection
    in our place, to an address we never checked.
    """
    transport = PublicOnlyTransport(
        allow_loopback=allow_loopback, resolver=resolver, network_backend=network_backend
    )
    return httpx.AsyncClient(transport=transport, trust_env=False, follow_redirects=False, **kwargs)

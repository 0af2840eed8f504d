"""An HTTP client for tenant-chosen URLs that connects to public addresses only.

Checking a URL's host and then letting the HTTP client connect by name leaves a gap: the
client resolves the name again, and a DNS answer that changed meanwhile (rebinding), or
that holds a private address beside a public one, reaches inside jobcast's network. So
the check sits where aiohttp resolves: its connector asks `PublicOnlyResolver` for the
host's addresses, which resolves once, refuses the connection if ANY address is not
public (`jobcast.destinations`), and hands back only the checked addresses, which the
connector connects to by number. aiohttp still sends `Host` and does TLS (SNI and
certificate verification) for the URL's name, since both come from the request's URL.

aiohttp does not ask a resolver about an address literal, so a middleware refuses a URL
whose host is a non-public address (in any spelling) before any connection is made.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.connector import SocketFactoryType

from jobcast.destinations import (
    IPAddress,
    address_problem,
    parse_ip_literal,
    parse_resolved,
    resolved_problem,
)
from jobcast.http_client import KEEPALIVE_SECONDS, HttpClient, NoAnswerError, http_client

# What a receiver answers is not read beyond its status: bounded, so that a tenant's
# server cannot fill jobcast's memory.
MAX_ANSWER_BYTES = 1024 * 1024

# (host, port) -> the addresses it resolves to, as text.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class DestinationRefusedError(NoAnswerError):
    """The URL's host is, or resolves to, an address jobcast must not connect to.

    Deterministic (the same DNS answer is refused again), unlike other connect errors.
    Its message names the host and address only, never the URL's path or query.
    """

    def __init__(self, problem: str) -> None:
        super().__init__(f"refused: {problem}")


async def system_resolver(host: str, port: int) -> list[str]:
    """`getaddrinfo`, as a connection by name would use it."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver, answering only names whose every address is public.

    Resolution failures are `OSError`s (aiohttp reports them as connect errors); a refusal
    is `DestinationRefusedError`, which aiohttp passes through as it is.
    """

    def __init__(self, *, allow_loopback: bool = False, resolver: Resolver = system_resolver):
        self._allow_loopback = allow_loopback
        self._resolve = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self._addresses(host, port)
        problem = resolved_problem(host, addresses, allow_loopback=self._allow_loopback)
        if problem is not None:
            raise DestinationRefusedError(problem)
        # Numbers, and only those just checked: nothing resolves the name again.
        return [
            ResolveResult(
                hostname=host,
                host=str(address),
                port=port,
                family=socket.AF_INET6 if address.version == 6 else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for address in addresses
        ]

    async def _addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = parse_ip_literal(host)
        if literal is not None:
            return [literal]
        answers = await self._resolve(host, port)  # aiohttp's connect timeout bounds it
        try:
            return [parse_resolved(answer) for answer in answers]
        except ValueError:
            raise OSError(f"{host} resolved to something not an address") from None

    async def close(self) -> None:
        pass


def _refuse_non_public_literals(allow_loopback: bool) -> aiohttp.ClientMiddlewareType:
    async def refuse(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        literal = parse_ip_literal(request.url.raw_host or "")
        if literal is not None:
            problem = address_problem(literal, allow_loopback=allow_loopback)
            if problem is not None:
                raise DestinationRefusedError(problem)
        return await handler(request)

    return refuse


def public_only_client(
    *,
    timeout_seconds: float = 10.0,
    allow_loopback: bool = False,
    resolver: Resolver = system_resolver,
    ssl_context: ssl.SSLContext | None = None,
    socket_factory: SocketFactoryType | None = None,
    max_answer_bytes: int = MAX_ANSWER_BYTES,
) -> HttpClient:
    """A client that reaches public addresses only and follows no redirect (none of its
    exchanges do); call inside the event loop that will use it.

    Environment proxies are ignored: a proxy would make the connection in our place, to
    an address we never checked. Each new connection resolves anew (no DNS cache), so
    every connection is checked by its own lookup. `socket_factory` (aiohttp's) creates
    the socket for a checked address: tests give one that connects nowhere.
    `max_answer_bytes` bounds what is read (a webhook receiver's answer; an image).
    """
    connector = aiohttp.TCPConnector(
        resolver=PublicOnlyResolver(allow_loopback=allow_loopback, resolver=resolver),
        use_dns_cache=False,
        keepalive_timeout=KEEPALIVE_SECONDS,
        ssl=ssl_context if ssl_context is not None else True,
        socket_factory=socket_factory,
    )
    return http_client(
        timeout_seconds=timeout_seconds,
        connector=connector,
        middlewares=(_refuse_non_public_literals(allow_loopback),),
        max_answer_bytes=max_answer_bytes,
    )

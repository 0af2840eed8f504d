"""`python -m bench.http_transport`: client CPU per Graph-shaped call, httpx's transport vs ours.

A tiny keep-alive HTTP server (httptools on uvloop, in its own process) answers every
request at once with a small Graph-like JSON body and usage headers, so what is left is
the client's cost. Each variant sends `--requests` POSTs at `--concurrency` and is
measured in the client process's CPU time (time.process_time), not wall time: the machine
may be shared. Each variant runs `--rounds` times, interleaved; the cheapest round counts.

Rows: the publisher's clients for GRAPH_HTTP_TRANSPORT=httpx (httpcore, 16 shards, as
before) or =lean (`LeanTransport`, one cookieless client) × how the call is made:
`client.request(...)` with params merged against base_url (GraphClient's HTTP call
before), or a whole `GraphClient.call` as it is now (plus the HMAC proof, usage headers,
metrics and JSON): build_request+send through httpx, or with lean `LeanClient.fetch`,
which writes the request bytes itself and skips httpx's request and response models.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import cast

import httptools
import httpx
import uvloop
from pydantic import SecretStr

from bench.common import report
from jobcast.graph.client import GraphClient, appsecret_proof
from services.publishing.app import graph_http_clients
from services.publishing.settings import PublisherSettings

ACCOUNTS = 500  # page tokens are ~180 characters
SECRET = "bench-app-secret"  # noqa: S105 - made up, for the HMAC proof's cost
FIELDS = "id,permalink_url"
MESSAGE = "We are hiring: a senior baker in Lyon. Apply today! " * 4
_BODY = b'{"id":"1234567890_9876543210","permalink_url":"https://www.facebook.com/1/posts/2"}'
_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\n"
    b'x-app-usage: {"call_count":1,"total_cputime":1,"total_time":1}\r\n'
    b"content-length: " + str(len(_BODY)).encode() + b"\r\n\r\n" + _BODY
)


class _Answer(asyncio.Protocol):
    """Answers each request with the same 200: the cheapest server we can write."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            assert self._transport is not None
            self._transport.close()

    def on_message_complete(self) -> None:
        assert self._transport is not None
        self._transport.write(_RESPONSE)


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Answer, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


@dataclass(frozen=True)
class Row:
    name: str
    cpu_us: float
    wall_s: float
    errors: int
    first_error: str


def _clients(transport: str, base_url: str) -> list[httpx.AsyncClient]:
    """The publisher's own clients for GRAPH_HTTP_TRANSPORT=`transport`."""
    settings = PublisherSettings(GRAPH_API_URL=base_url, GRAPH_HTTP_TRANSPORT=transport)
    return graph_http_clients(settings)


def _tokens() -> Iterator[str]:
    # Many accounts, so httpx's shards (picked by the token's hash) all take a share.
    return itertools.cycle([f"EAAB{i:04d}" + "x" * 176 for i in range(ACCOUNTS)])


def _old_style(clients: list[httpx.AsyncClient]) -> Callable[[], Awaitable[object]]:
    """GraphClient's HTTP call before: params and base_url merged by httpx."""
    tokens = _tokens()

    async def call() -> object:
        token = next(tokens)
        client = clients[zlib.crc32(token.encode()) % len(clients)]
        response = await client.request(
            "POST",
            "/v24.0/123456789/feed",
            params={
                "fields": "id,permalink_url",
                "appsecret_proof": appsecret_proof(SECRET, token),
            },
            data={"message": MESSAGE},
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.json()

    return call


def _graph_call(clients: list[httpx.AsyncClient]) -> Callable[[], Awaitable[object]]:
    graph = GraphClient(clients, "v24.0", SecretStr(SECRET), platform="facebook")
    tokens = _tokens()

    async def call() -> object:
        return await graph.call(
            "POST",
            "123456789/feed",
            next(tokens),
            params={"fields": FIELDS},
            data={"message": MESSAGE},
        )

    return call


async def _measure(
    name: str, call: Callable[[], Awaitable[object]], requests: int, concurrency: int
) -> Row:
    errors: list[str] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            try:
                await call()
            except Exception as exc:
                errors.append(repr(exc))

    per_worker = requests // concurrency
    await asyncio.gather(*(worker(per_worker // 10) for _ in range(concurrency)))  # warm-up
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(per_worker) for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    first = errors[0] if errors else ""
    return Row(name, cpu / (per_worker * concurrency) * 1e6, wall, len(errors), first)


async def _run(port: int, requests: int, concurrency: int, rounds: int) -> list[Row]:
    """Every variant once per round, interleaved; each variant's cheapest round is kept
    (the machine is shared: noise only ever adds CPU)."""
    base_url = f"http://127.0.0.1:{port}"
    best: dict[str, Row] = {}
    for _ in range(rounds):
        for transport in ("httpx", "lean"):
            for style, make in (("client.request", _old_style), ("GraphClient.call", _graph_call)):
                clients = _clients(transport, base_url)
                try:
                    name = f"{transport}: {style}"
                    row = await _measure(name, make(clients), requests, concurrency)
                finally:
                    for client in clients:
                        await client.aclose()
                if name not in best or row.cpu_us < best[name].cpu_us:
                    best[name] = row
    return list(best.values())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_listening(port: int) -> None:
    for _ in range(600):  # 30 s: imports are slow on a busy machine
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the bench server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server process
    args = parser.parse_args()
    if args.serve:
        uvloop.run(_serve(args.serve))
        return
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.http_transport", "--serve", str(port)])
    try:
        run = uvloop.run if args.loop == "uvloop" else asyncio.run

        async def bench() -> list[Row]:
            await _wait_listening(port)
            return await _run(port, args.requests, args.concurrency, args.rounds)

        rows = run(bench())
        for row in rows:
            if row.errors:
                print(f"{row.name}: {row.errors} errors, first: {row.first_error}")
    finally:
        server.terminate()
        server.wait(timeout=10)
    report(
        "http_transport",
        [
            (row.name, f"{row.cpu_us:,.1f} µs/req", f"{row.wall_s:.2f} s wall, {row.errors} errors")
            for row in rows
        ],
        {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "rounds": args.rounds,
            "loop": args.loop,
            "cpu_us_per_request": {row.name: row.cpu_us for row in rows},
            "errors": {row.name: [row.errors, row.first_error] for row in rows},
        },
    )


if __name__ == "__main__":
    main()

"""`make bench-ingest`: the HTTP front door on real Kafka and Postgres.

Phase 1: batches of 100 events, 8 concurrent clients → events/s.
Phase 2: single events at a steady 1,000 requests/s (open loop) → p50/p99 latency,
each measured from when the request was due.
The load generator runs on the same 2 cores as ingest, Kafka and Postgres, so it is kept
cheap: bodies serialised before the clock starts, raw HTTP/1.1 on keep-alive connections,
responses parsed by httptools. Every request is a new event (the server assigns its id).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import time
import uuid
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httptools
import uvloop

from bench.common import cpu_seconds, peak_rss_mb, percentile, report
from devtools.devstack.processes import ManagedProcess
from devtools.devstack.session import distinct_free_ports, real_infra, scratch_dir
from devtools.stack import SERVICES, Endpoints
from jobcast.crypto import generate_key
from jobcast.db import create_pool
from jobcast.tenancy import create_tenant, migrate_tenancy

# Enough that 1,000 requests/s at the 50 ms target never wait for a connection.
_CONNECTIONS = 200


def event(n: int) -> dict[str, Any]:
    return {
        "event_type": "job.created",
        "payload": {
            "job_id": f"bench-{uuid.uuid4().hex[:12]}-{n}", "title": "Barista",
            "company": "Kopi Pagi", "location": "Ubud, Bali", "employment_type": "daily",
            "apply_url": f"https://jobs.example.com/{n}",
        },
    }  # fmt: skip


async def new_key(database_url: str) -> str:
    pool = await create_pool(database_url, max_size=1)
    try:
        await migrate_tenancy(pool)
        _, api_key = await create_tenant(pool, f"bench-{uuid.uuid4().hex[:8]}")
        return api_key
    finally:
        await pool.close()


Reply = Callable[[int, bytes], None]  # status (0: the request failed) and body


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time, parsed by httptools (C).

    The load generator shares the 2 cores with what it measures: httpx spent more CPU per
    request than ingest itself, so requests are serialised before the clock starts, written
    as they are, and answered by callback (no task per request).
    """

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._reply: Reply | None = None
        self._body: list[bytes] = []

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
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


class _Target:
    """Where requests go, and their pre-serialised form."""

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
        data = json.dumps(body).encode()
        return self._head + b"Content-Length: %d\r\n\r\n" % len(data) + data


async def batches(url: str, key: str, count: int, clients: int) -> tuple[int, float]:
    """Send `count` batches of 100 from `clients` concurrent senders (closed loop)."""
    target = _Target(url, key)
    requests = deque(target.post({"events": [event(n * 100 + i) for i in range(100)]})
                     for n in range(count))  # fmt: skip
    accepted = 0

    async def sender() -> None:
        nonlocal accepted
        connection = await _Connection.open(target.host, target.port)
        try:
            while requests:
                status, body = await connection.send(requests.popleft())
                if status != 202:
                    raise RuntimeError(f"batch answered {status}: {body[:300]!r}")
                accepted += len(json.loads(body)["accepted"])
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(clients)))
    return accepted, time.perf_counter() - started


class _OpenLoop:
    """Sends each request when it is due on an idle connection, or as soon as one frees up.

    Each latency runs from when the request was due, not when it could be sent: if the
    generator or a free connection lags, that wait counts too (no coordinated omission).
    """

    def __init__(self, connections: list[_Connection]) -> None:
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

    def _answered(self, connection: _Connection, due: float, status: int, _: bytes) -> None:
        self.outstanding -= 1
        if status == 202:
            self.latencies.append((time.perf_counter() - due) * 1000)
        else:
            self.errors += 1
        self._idle.append(connection)
        self._dispatch()
        if not self.outstanding:
            self.quiet.set()


async def steady(url: str, key: str, rate: int, seconds: float) -> tuple[list[float], int]:
    """Open loop: a request every 1/rate s, whatever earlier ones are doing."""
    target = _Target(url, key)
    requests = [target.post(event(n)) for n in range(int(rate * seconds))]
    connections = [await _Connection.open(target.host, target.port) for _ in range(_CONNECTIONS)]
    load = _OpenLoop(connections)
    gc.freeze()  # a full collection in the generator would count as server latency
    start = time.perf_counter()  # not loop.time(): uvloop's clock ticks in whole milliseconds
    sent = 0
    while sent < len(requests):
        while sent < len(requests) and start + sent / rate <= time.perf_counter():
            load.due(requests[sent], start + sent / rate)
            sent += 1
        # uvloop's timers have millisecond resolution: a shorter sleep would spin.
        await asyncio.sleep(max(start + sent / rate - time.perf_counter(), 0.001))
    with contextlib.suppress(TimeoutError):  # what is unanswered 30 s on counts as failed
        await asyncio.wait_for(load.quiet.wait(), timeout=30)
    for connection in connections:
        connection.close()
    return load.latencies, load.errors + load.outstanding


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with real_infra() as infra:
        state = scratch_dir("jobcast-bench-ingest-")
        [port] = distinct_free_ports(1)
        endpoints = Endpoints(
            infra.kafka_bootstrap_servers, infra.database_url, "http://127.0.0.1:9",
            generate_key(), ports={**{n: 0 for n in SERVICES}, "ingest": port},
            extra={"INGEST_RATE_LIMIT_PER_SECOND": "1e9", "INGEST_RATE_LIMIT_BURST": "1e9"},
        )  # fmt: skip
        ingest = ManagedProcess("ingest", "services.ingest", state, env=endpoints.env())
        try:
            ingest.start()
            ingest.wait_ready(f"{endpoints.url('ingest')}/readyz")
            url = f"{endpoints.url('ingest')}/v1/job-events"
            key = uvloop.run(new_key(infra.database_url))
            uvloop.run(batches(url, key, 10, 2))  # warm-up
            assert ingest.pid is not None
            cpu_before = cpu_seconds(ingest.pid)
            accepted, elapsed = uvloop.run(batches(url, key, args.batches, 8))
            cpu_batches = cpu_seconds(ingest.pid) - cpu_before
            latencies, errors = uvloop.run(steady(url, key, args.rate, args.seconds))
            cpu_steady = cpu_seconds(ingest.pid) - cpu_before - cpu_batches
            load = os.getloadavg()[0]
            rss = peak_rss_mb(ingest.pid)
        finally:
            ingest.stop()
    rate = accepted / elapsed
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    # CPU per unit of work holds still when other processes load the machine; rates don't.
    us_per_event = 1e6 * cpu_batches / max(accepted, 1)
    us_per_request = 1e6 * cpu_steady / max(len(latencies) + errors, 1)
    report(
        "ingest",
        [
            ("batches of 100", f"{args.batches}", "8 concurrent clients"),
            ("throughput", f"{rate:,.0f} events/s", "target ≥ 5,000"),
            (f"latency at {args.rate} req/s p50", f"{p50:,.1f} ms", "single events"),
            (f"latency at {args.rate} req/s p99", f"{p99:,.1f} ms", "target < 50 ms"),
            ("requests failed", f"{errors}", "= 0"),
            ("ingest CPU per event (batches)", f"{us_per_event:,.0f} µs", ""),
            ("ingest CPU per request (steady)", f"{us_per_request:,.0f} µs", ""),
            ("load average (1 min) at the end", f"{load:.2f}", "2 cores"),
            ("peak RSS (ingest)", f"{rss:,.0f} MiB", ""),
        ],
        {
            "events_per_second": rate,
            "p50_ms": p50,
            "p99_ms": p99,
            "errors": errors,
            "rate": args.rate,
            "peak_rss_mib": rss,
            "cpu_us_per_event_batched": us_per_event,
            "cpu_us_per_request_single": us_per_request,
            "load_average_1m": load,
            "infra": infra.how,
        },
    )


if __name__ == "__main__":
    main()

"""`make bench-ingest`: the HTTP front door on real Kafka and Postgres.

Phase 1: batches of 100 events, 8 concurrent clients → events/s.
Phase 2: single events at a steady 1,000 requests/s (open loop) → p50/p99 latency.
The load generator runs on the same 2 cores as ingest, Kafka and Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import httpx

from bench.common import peak_rss_mb, percentile, report
from jobcast.crypto import generate_key
from jobcast.db import create_pool
from jobcast.devstack.processes import ManagedProcess
from jobcast.devstack.session import distinct_free_ports, real_infra, scratch_dir
from jobcast.tenancy import create_tenant, migrate_tenancy
from jobcast_cli.stack import SERVICES, Endpoints


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


async def batches(url: str, key: str, count: int, clients: int) -> tuple[int, float]:
    """Send `count` batches of 100 from `clients` concurrent senders."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    accepted = 0

    async def sender(http: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            n = queue.get_nowait()
            body = {"events": [event(n * 100 + i) for i in range(100)]}
            response = await http.post(url, json=body, headers={"Authorization": f"Bearer {key}"})
            response.raise_for_status()
            accepted += len(response.json()["accepted"])

    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.gather(*(sender(http) for _ in range(clients)))
    return accepted, time.perf_counter() - started


async def steady(url: str, key: str, rate: int, seconds: float) -> tuple[list[float], int]:
    """Open loop: a request every 1/rate s, whatever earlier ones are doing."""
    latencies: list[float] = []
    errors = 0

    async def one(http: httpx.AsyncClient, n: int) -> None:
        nonlocal errors
        started = time.perf_counter()
        try:
            response = await http.post(
                url, json=event(n), headers={"Authorization": f"Bearer {key}"}
            )
        except httpx.HTTPError:
            errors += 1  # e.g. queued past the client's timeout: the server fell behind
            return
        if response.status_code == 202:
            latencies.append((time.perf_counter() - started) * 1000)
        else:
            errors += 1

    # Many small pools: one big httpx pool costs the generator more CPU than the server.
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    clients = [httpx.AsyncClient(timeout=30, limits=limits) for _ in range(25)]
    try:
        tasks = []
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n in range(int(rate * seconds)):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(clients[n % len(clients)], n)))
        await asyncio.gather(*tasks)
    finally:
        for client in clients:
            await client.aclose()
    return latencies, errors


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
            key = asyncio.run(new_key(infra.database_url))
            asyncio.run(batches(url, key, 10, 2))  # warm-up
            accepted, elapsed = asyncio.run(batches(url, key, args.batches, 8))
            latencies, errors = asyncio.run(steady(url, key, args.rate, args.seconds))
            assert ingest.pid is not None
            rss = peak_rss_mb(ingest.pid)
        finally:
            ingest.stop()
    rate = accepted / elapsed
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    report(
        "ingest",
        [
            ("batches of 100", f"{args.batches}", "8 concurrent clients"),
            ("throughput", f"{rate:,.0f} events/s", "target ≥ 5,000"),
            (f"latency at {args.rate} req/s p50", f"{p50:,.1f} ms", "single events"),
            (f"latency at {args.rate} req/s p99", f"{p99:,.1f} ms", "target < 50 ms"),
            ("requests failed", f"{errors}", "= 0"),
            ("peak RSS (ingest)", f"{rss:,.0f} MiB", ""),
        ],
        {
            "events_per_second": rate,
            "p50_ms": p50,
            "p99_ms": p99,
            "errors": errors,
            "rate": args.rate,
            "peak_rss_mib": rss,
            "infra": infra.how,
        },
    )


if __name__ == "__main__":
    main()

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
import gc
import json
import os
import time
import uuid
from typing import Any

import uvloop

from bench.common import cpu_seconds, peak_rss_mb, percentile, report
from bench.http_load import Target, closed_loop, open_loop
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


async def batches(url: str, key: str, count: int, clients: int) -> tuple[int, float]:
    """Send `count` batches of 100 from `clients` concurrent senders (closed loop)."""
    target = Target(url, key)
    requests = [target.post({"events": [event(n * 100 + i) for i in range(100)]})
                for n in range(count)]  # fmt: skip
    started = time.perf_counter()
    bodies = await closed_loop(target.host, target.port, requests, clients)
    elapsed = time.perf_counter() - started
    return sum(len(json.loads(body)["accepted"]) for body in bodies), elapsed


async def steady(url: str, key: str, rate: int, seconds: float) -> tuple[list[float], int]:
    """Open loop: a request every 1/rate s, whatever earlier ones are doing."""
    target = Target(url, key)
    requests = [target.post(event(n)) for n in range(int(rate * seconds))]
    gc.freeze()  # a full collection in the generator would count as server latency
    return await open_loop(target.host, target.port, requests, rate, _CONNECTIONS)


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

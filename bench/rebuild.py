"""`make bench-rebuild`: `jobcast rebuild metrics` from 1,000,000 result events.

1. 1,000,000 synthetic `publish.completed` events are put on `publish.results` (a mix of
   life cycles: posted at once; scheduled then posted; a retry then posted; retries then
   failed; skipped), about 600,000 posts over 100 tenants.
2. `jobcast rebuild metrics --json` runs as its own process (no other service runs); its
   report gives events/s (every record read from the log, over load + build + swap), its
   own peak RSS and the largest peak of its loader processes (one per core, each holding
   its own chunk and Kafka prefetch).

`--runs N` rebuilds N times from the same log (this machine's speed drifts: one run says
little); `--decoders fast,contract` alternates the loaders' decoders run by run, for a
comparison under the same conditions. The table shows the last run and, per decoder, the
median events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from bench.common import report
from devtools.devstack.session import real_infra
from jobcast.db import create_pool
from jobcast.topics import PUBLISH_RESULTS
from schemas.publish import PublishCompleted, make_post_key
from services.metrics.readmodel.repo import migrate_metrics
from services.metrics.rebuild.load import DECODER_ENV

TARGET_EVENTS_PER_SECOND = 50_000
_T0 = datetime(2026, 6, 1, tzinfo=UTC)
_LIFECYCLES: list[tuple[float, list[tuple[str, int]]]] = [
    (0.50, [("posted", 1)]),
    (0.20, [("scheduled", 0), ("posted", 1)]),
    (0.15, [("retry_scheduled", 2), ("posted", 2)]),
    (0.10, [("retry_scheduled", 2), ("retry_scheduled", 3), ("failed", 3)]),
    (0.05, [("skipped", 0)]),
]


def _event(
    tenant: str, connection: str, post_key: str, job: str, *, status: str, attempt: int,
    at: datetime,
) -> bytes:  # fmt: skip
    """One event as the publishers serialise it (checked against the model below)."""
    when = at.isoformat().replace("+00:00", "Z")
    posted = status == "posted"
    post_id = f'"{post_key[3:15]}"' if posted else "null"
    permalink = f'"https://facebook.com/{post_key[3:15]}"' if posted else "null"
    requested = f'"{when}"' if attempt else "null"
    error = (
        "null"
        if status in ("posted", "scheduled")
        else '{"error_class":"transient","code":2,"subcode":null,"message":"Please retry"}'
    )
    return (
        f'{{"event_id":"{uuid.uuid4()}","schema_version":1,"occurred_at":"{when}",'
        f'"tenant_id":"{tenant}","event_type":"publish.completed","payload":{{'
        f'"post_key":"{post_key}","action":"publish","platform":"facebook",'
        f'"connection_id":"{connection}","job_id":"{job}","status":"{status}",'
        f'"attempt":{attempt},"platform_post_id":{post_id},"permalink":{permalink},'
        f'"error":{error},"next_attempt_at":null,"completed_at":"{when}",'
        f'"requested_at":{requested},"http_status":{200 if posted else "null"},'
        f'"latency_ms":{180 if attempt else "null"}}}}}'
    ).encode()


def synthetic_events(count: int, seed: int = 1) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: `count` events, each post's life cycle in order."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data, not secrets)
    tenants = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(100)]
    connections = {t: [str(uuid.uuid4()) for _ in range(4)] for t in tenants}
    weights = [w for w, _ in _LIFECYCLES]
    out: list[tuple[bytes, bytes]] = []
    n = 0
    while len(out) < count:
        tenant = tenants[n % len(tenants)]
        connection = connections[tenant][n % 4]
        job = f"job-{n // 4}"
        post_key = make_post_key(uuid.UUID(tenant), job, uuid.UUID(connection), 1)
        (steps,) = rng.choices([s for _, s in _LIFECYCLES], weights)
        at = _T0 + timedelta(seconds=n)
        for i, (status, attempt) in enumerate(steps):
            if len(out) == count:
                break
            value = _event(
                tenant, connection, post_key, job,
                status=status, attempt=attempt, at=at + timedelta(minutes=i),
            )  # fmt: skip
            out.append((post_key.encode(), value))
        n += 1
    PublishCompleted.model_validate_json(out[0][1])  # the template is a valid event
    PublishCompleted.model_validate_json(out[-1][1])
    return out


async def produce(bootstrap: str, events: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1_048_576, acks=1
    )
    await producer.start()
    try:
        pending = []
        for key, value in events:
            pending.append(await producer.send(PUBLISH_RESULTS, value, key=key))
            if len(pending) >= 50_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def migrate(database_url: str) -> None:
    pool = await create_pool(database_url)
    try:
        await migrate_metrics(pool)
    finally:
        await pool.close()


def rebuild_once(env: dict[str, str]) -> dict[str, Any]:
    command = Path(sys.executable).parent / "jobcast"
    run = subprocess.run(
        [str(command), "rebuild", "metrics", "--json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if run.returncode != 0:
        raise SystemExit(f"rebuild failed:\n{run.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(run.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--decoders", default="fast", help="comma-separated: fast, contract")
    args = parser.parse_args()
    decoders = args.decoders.split(",")
    runs: list[tuple[str, dict[str, Any]]] = []
    with real_infra() as infra:
        asyncio.run(migrate(infra.database_url))
        started = time.perf_counter()
        events = synthetic_events(args.events)
        asyncio.run(produce(infra.kafka_bootstrap_servers, events))
        del events
        print(f"produced {args.events:,} events in {time.perf_counter() - started:.1f}s")
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap_servers,
            "DATABASE_URL": infra.database_url,
        }
        for number in range(args.runs):
            decoder = decoders[number % len(decoders)]
            result = rebuild_once({**env, DECODER_ENV: decoder})
            runs.append((decoder, result))
            print(
                f"run {number + 1}/{args.runs} ({decoder}): {result['events_per_second']:,.0f}"
                f" ev/s (load {result['load_seconds']:.1f} s, build"
                f" {result['build_seconds']:.1f} s, swap {result['swap_seconds']:.2f} s,"
                f" cleanup {result['cleanup_seconds']:.2f} s)"
            )
    result = runs[-1][1]
    rss_mib = result["peak_rss_mib"]  # the rebuild process's own peak (VmHWM)
    rates: dict[str, list[float]] = {}
    for decoder, run in runs:
        rates.setdefault(decoder, []).append(run["events_per_second"])
    medians = {decoder: statistics.median(values) for decoder, values in rates.items()}
    rate = medians[decoders[0]]
    report(
        "rebuild",
        [
            ("events read", f"{result['events']:,}", ""),
            ("posts rebuilt", f"{result['rows']['job_posts']:,}", ""),
            ("attempts rebuilt", f"{result['rows']['delivery_attempts']:,}", ""),
            ("load (read, validate, COPY)", f"{result['load_seconds']:.1f} s", ""),
            ("build (fill, index)", f"{result['build_seconds']:.1f} s", ""),
            ("swap (live tables locked)", f"{result['swap_seconds']:.2f} s", ""),
            ("drop the replaced tables", f"{result['cleanup_seconds']:.2f} s", "after the swap"),
            *(
                (
                    f"throughput, {decoder} decoder (median of {len(rates[decoder])})",
                    f"{median:,.0f} ev/s",
                    f"target ≥ {TARGET_EVENTS_PER_SECOND:,}",
                )
                for decoder, median in medians.items()
            ),
            ("peak RSS (rebuild process)", f"{rss_mib:.0f} MiB", ""),
            ("peak RSS (each loader process)", f"{result['loader_peak_rss_mib']:.0f} MiB", ""),
        ],
        {
            **result,
            "events_per_second": rate,
            "median_events_per_second": medians,
            "runs": [
                {
                    "decoder": d,
                    "events_per_second": r["events_per_second"],
                    "load_seconds": r["load_seconds"],
                    "build_seconds": r["build_seconds"],
                    "swap_seconds": r["swap_seconds"],
                    "cleanup_seconds": r["cleanup_seconds"],
                }
                for d, r in runs
            ],
            "infra": infra.how,
        },
    )


if __name__ == "__main__":
    main()

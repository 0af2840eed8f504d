"""`make soak`: a steady load for a long time; RSS and consumer lag must stay flat.

The whole pipeline on real Kafka and Postgres, the Graph sandbox at latency 0. The load is
`--rate` jobs/s (2 posts each) over HTTP in batches five times a second, open loop. With
`--rate auto` (the default) a calibration burst measures what the machine completes per
second and the soak runs at 80% of that, capped at 1,000 jobs/s (the target): a rate the
pipeline cannot sustain would make the lag grow by construction.

Every `--sample-seconds`: each service's RSS and each consumer group's lag (log end minus
committed offset). At the end, a least-squares slope per series over the samples after
the warm-up: RSS in MiB/min, lag in records/min. Flat = every service's RSS slope under
`--rss-slope-limit` (the sandbox is shown, not judged: it holds the ledger in memory) and
the total lag slope under `--lag-share-limit` of the offered jobs per minute.
`SOAK_MINUTES` (default 30) sets the length, `SOAK_RATE` the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from bench.common import report
from bench.e2e import BATCH, Lane, bench_pipeline, job, make_lanes, throughput
from jobcast.db import create_pool
from tests.suites import offsets
from tests.suites.stack import Pipeline

SERVICE_GROUP_PREFIXES = ("ingest", "distributor", "publisher", "metrics")


@dataclass
class Sample:
    at: float  # seconds since the soak started
    rss: dict[str, float | None]
    lag: dict[str, int]
    posted: int
    sent: int


@dataclass
class Load:
    rate: float
    sent: int = 0
    failed: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


async def offer(pipeline: Pipeline, lanes: Sequence[Lane], load: Load, until: float) -> None:
    """Open loop: every 0.2 s a batch of rate/5 jobs, whatever earlier requests are doing."""
    url = f"{pipeline.url('ingest')}/v1/job-events"
    per_tick = load.rate / 5
    owed = 0.0
    loop = asyncio.get_running_loop()
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:

        async def send(lane: Lane, job_ids: list[str]) -> None:
            try:
                response = await http.post(
                    url, json={"events": [job(j) for j in job_ids]},
                    headers={"Authorization": f"Bearer {lane.api_key}"},
                )  # fmt: skip
                response.raise_for_status()
                load.sent += len(job_ids)
            except httpx.HTTPError:
                load.failed += len(job_ids)

        tick = 0
        start = loop.time()
        while loop.time() < until:
            owed += per_tick
            count, owed = int(owed), owed - int(owed)
            for first in range(0, count, BATCH):
                size = min(BATCH, count - first)
                job_ids = [f"soak-{uuid.uuid4().hex[:12]}" for _ in range(size)]
                task = asyncio.create_task(send(lanes[(tick + first) % len(lanes)], job_ids))
                load.tasks.add(task)
                task.add_done_callback(load.tasks.discard)
            tick += 1
            await asyncio.sleep(max(0.0, start + tick * 0.2 - loop.time()))
        await asyncio.gather(*load.tasks)


async def sample_forever(
    pipeline: Pipeline, pool: asyncpg.Pool, load: Load, every: float, until: float
) -> list[Sample]:
    bootstrap = pipeline.endpoints.kafka_bootstrap_servers
    samples: list[Sample] = []
    started = time.monotonic()
    while time.monotonic() < until:
        groups = [g for g in await offsets.groups(bootstrap)
                  if g.startswith(SERVICE_GROUP_PREFIXES)]  # fmt: skip
        posted = await pool.fetchval(
            "SELECT count(*) FROM metrics.job_posts WHERE status = 'posted'"
        )
        lag = await offsets.lag(bootstrap, groups)
        last = Sample(time.monotonic() - started, pipeline.memory(), lag, int(posted), load.sent)
        samples.append(last)
        rss = " ".join(f"{n[:12]}={v or 0:.0f}" for n, v in last.rss.items())
        print(f"soak {last.at:6.0f} s: lag {sum(lag.values()):>7}, posted {last.posted:>8}, {rss}")
        await asyncio.sleep(every)
    return samples


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute (0 with < 3 points)."""
    if len(points) < 3:
        return 0.0
    xs, ys = zip(*points, strict=True)
    if len(set(xs)) < 2:
        return 0.0
    return statistics.linear_regression(xs, ys).slope * 60


async def soak(pipeline: Pipeline, args: argparse.Namespace) -> dict[str, Any]:
    pool = await create_pool(pipeline.endpoints.database_url, max_size=4)
    try:
        lanes = await make_lanes(pool, pipeline.endpoints.secret_key, args.lanes)
        measured = None
        if args.rate == "auto":
            print(f"soak: calibrating with {args.calibration_jobs} jobs ...")
            measured = await throughput(pipeline, pool, lanes, args.calibration_jobs)
            rate = min(1000.0, 0.8 * measured.steady_jobs_per_second)
        else:
            rate = float(args.rate)
        print(f"soak: {rate:,.0f} jobs/s for {args.minutes:g} min"
              + (f" (80% of a measured {measured.steady_jobs_per_second:,.0f} jobs/s)"
                 if measured else ""))  # fmt: skip
        load = Load(rate)
        until = time.monotonic() + args.minutes * 60
        loop_until = asyncio.get_running_loop().time() + args.minutes * 60
        samples, _ = await asyncio.gather(
            sample_forever(pipeline, pool, load, args.sample_seconds, until),
            offer(pipeline, lanes, load, loop_until),
        )
    finally:
        await pool.close()
    return {"rate": rate, "calibrated": measured.steady_jobs_per_second if measured else None,
            "samples": samples, "load": load}  # fmt: skip


def _span(samples: Sequence[Sample], name: str) -> str:
    if not samples:
        return ""
    return f"{samples[0].rss.get(name) or 0:.0f} → {samples[-1].rss.get(name) or 0:.0f} MiB"


def judge(args: argparse.Namespace, outcome: dict[str, Any]) -> None:
    samples: list[Sample] = outcome["samples"]
    rate: float = outcome["rate"]
    warm = args.minutes * 60 * args.warmup_share
    steady = [s for s in samples if s.at >= warm]
    names = sorted(samples[0].rss) if samples else []
    rss_slopes = {
        name: slope_per_minute([(s.at, v) for s in steady if (v := s.rss.get(name)) is not None])
        for name in names
    }
    lag_slope = slope_per_minute([(s.at, sum(s.lag.values())) for s in steady])
    lag_limit = args.lag_share_limit * rate * 60
    # The sandbox keeps every post in memory (it is the ledger): it grows by design.
    judged = {n: v for n, v in rss_slopes.items() if n != "graph-sandbox"}
    rss_flat = all(slope <= args.rss_slope_limit for slope in judged.values())
    lag_flat = lag_slope <= lag_limit
    done = (
        (steady[-1].posted - steady[0].posted) / max(steady[-1].at - steady[0].at, 1e-6) / 2
        if len(steady) > 1
        else 0.0
    )
    verdict = (
        f"SOAK {'FLAT' if rss_flat and lag_flat else 'NOT FLAT'}: {rate:,.0f} jobs/s offered, "
        f"{done:,.0f} jobs/s completed, {args.minutes:g} min, {len(samples)} samples; RSS slope "
        f"max {max(judged.values(), default=0):+.2f} MiB/min (limit {args.rss_slope_limit}, "
        "services); "
        f"lag slope {lag_slope:+,.0f} records/min (limit {lag_limit:,.0f}), final lag "
        f"{sum(samples[-1].lag.values()) if samples else 0}; {outcome['load'].failed} jobs refused"
    )
    rows = [
        ("offered", f"{rate:,.0f} jobs/s", "target 1,000 (auto: 80% of calibration)"),
        ("completed (steady part)", f"{done:,.0f} jobs/s", "both posts posted"),
        ("duration", f"{args.minutes:g} min", f"warm-up {warm:.0f} s not judged"),
        *((f"RSS slope {n}", f"{v:+.2f} MiB/min", _span(steady, n))
          for n, v in rss_slopes.items()),
        ("lag slope (all groups)", f"{lag_slope:+,.0f} rec/min", f"limit {lag_limit:,.0f}"),
        ("lag max / final", f"{max((sum(s.lag.values()) for s in samples), default=0):,} / "
         f"{sum(samples[-1].lag.values()) if samples else 0:,}", "records"),
    ]  # fmt: skip
    print("\n  time    lag     posted  " + "  ".join(f"{n[:10]:>10}" for n in names))
    step = max(1, len(samples) // 20)
    for s in samples[::step]:
        print(f"  {s.at:5.0f}s {sum(s.lag.values()):>7} {s.posted:>9}  "
              + "  ".join(f"{s.rss.get(n) or 0:>10.1f}" for n in names))  # fmt: skip
    report("soak", rows, {
        "verdict": verdict, "flat": rss_flat and lag_flat, "rate": rate,
        "calibrated_jobs_per_second": outcome["calibrated"], "minutes": args.minutes,
        "rss_slope_mib_per_min": rss_slopes, "lag_slope_records_per_min": lag_slope,
        "completed_jobs_per_second": done,
        "samples": [{"at": s.at, "rss_mib": s.rss, "lag": s.lag, "posted": s.posted,
                     "sent": s.sent} for s in samples],
    })  # fmt: skip
    print(verdict)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", "30"))
    )
    parser.add_argument("--rate", default=os.environ.get("SOAK_RATE", "auto"))
    parser.add_argument("--lanes", type=int, default=250, help="tenants, each with 2 accounts")
    parser.add_argument("--calibration-jobs", type=int, default=3000)
    parser.add_argument("--sample-seconds", type=float, default=10)
    parser.add_argument("--warmup-share", type=float, default=0.2)
    parser.add_argument("--rss-slope-limit", type=float, default=0.5, help="MiB/min")
    parser.add_argument("--lag-share-limit", type=float, default=0.05,
                        help="lag slope per minute / jobs offered per minute")  # fmt: skip
    args = parser.parse_args()
    with bench_pipeline("jobcast-soak-") as (_, pipeline):
        outcome = asyncio.run(soak(pipeline, args))
    judge(args, outcome)


if __name__ == "__main__":
    main()

"""`make bench-distributor`: the distributor alone, on real Kafka and Postgres.

1. Throughput: N `job.created` events (one tenant, a Facebook Page and an Instagram
   account) are put on `jobs.events` first; then the distributor starts and plans and sends
   two publish commands per job. Rate = jobs / (first planned → last sent), from Postgres
   timestamps written by the distributor itself; CPU per job = the distributor's user +
   system time from readiness to the last send (/proc), over the jobs — comparable across
   runs on a busy machine, where the rate is not.
2. Timers: 100,000 posts are planned straight into `distributor.posts`, due over a window
   starting a little later; the timer fires them. Lateness = sent_at − due_at per post
   (sent_at is taken after the broker acknowledged the command).

No publisher runs: the commands simply accumulate on the publish topics.

`--instances N` starts N distributor processes (members of one consumer group sharing
`jobs.events`' partitions): how the distributor scales out. CPU per job is then summed
over them; "machine CPU per job" counts every process (Kafka and Postgres included).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from bench.common import cpu_seconds, machine_cpu_seconds, peak_rss_mb, percentile, report
from devtools.devstack.processes import ManagedProcess
from devtools.devstack.session import distinct_free_ports, real_infra, scratch_dir
from devtools.stack import SERVICES, Endpoints
from jobcast.crypto import TokenCipher, generate_key
from jobcast.db import create_pool
from jobcast.tenancy import create_tenant, migrate_tenancy
from jobcast.topics import JOBS_EVENTS
from schemas import Platform, PostContent, PublishCommand, make_post_key
from schemas.jobs import JobCreated, JobPosting
from services.distributor.repo import add_connection, migrate_distributor


async def prepare_tenant(endpoints: Endpoints) -> tuple[uuid.UUID, list[uuid.UUID]]:
    pool = await create_pool(endpoints.database_url)
    try:
        await migrate_tenancy(pool)
        await migrate_distributor(pool)
        tenant, _ = await create_tenant(pool, f"bench-{uuid.uuid4().hex[:8]}")
        cipher = TokenCipher(SecretStr(endpoints.secret_key))
        connections = []
        for platform in (Platform.FACEBOOK, Platform.INSTAGRAM):
            connection = await add_connection(
                pool, cipher, tenant_id=tenant.tenant_id, platform=platform,
                account_id=f"{platform.value}-1", token="bench-token",  # noqa: S106
            )  # fmt: skip
            connections.append(connection.connection_id)
        return tenant.tenant_id, connections
    finally:
        await pool.close()


async def produce_jobs(bootstrap: str, tenant_id: uuid.UUID, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=262_144)
    await producer.start()
    try:
        for i in range(count):
            job = JobPosting.model_validate(
                {
                    "job_id": f"bench-{i}",
                    "title": "Line cook",
                    "company": "Warung Laut",
                    "location": "Canggu, Bali",
                    "employment_type": "daily",
                    "apply_url": f"https://jobs.example.com/{i}",
                    "image_url": f"https://jobs.example.com/{i}.jpg",
                    "description": "Morning shift, 07:00-15:00. Experience with grill preferred.",
                    "tags": ["BaliJobs", "Cook"],
                }
            )
            event = JobCreated(tenant_id=tenant_id, payload=job)
            await producer.send(
                JOBS_EVENTS, event.model_dump_json().encode(), key=job.job_id.encode()
            )
        await producer.flush()
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Sample:
    """Commands sent so far, and the CPU seconds spent by then."""

    at: float
    sent: int
    distributor_cpu: float
    machine_cpu: float


async def wait_sent(
    database_url: str, expected: int, limit_seconds: float, samples: list[Sample], pids: list[int]
) -> asyncpg.Record:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            sent = await conn.fetchval("SELECT count(*) FROM distributor.posts WHERE state='sent'")
            samples.append(
                Sample(
                    time.monotonic(), sent, sum(cpu_seconds(p) for p in pids),
                    machine_cpu_seconds(),
                )
            )  # fmt: skip
            if sent >= expected:
                break
            await asyncio.sleep(0.25)
        row = await conn.fetchrow(
            """SELECT count(*) FILTER (WHERE state = 'sent') AS sent,
                      min(created_at) AS first_planned, max(sent_at) AS last_sent
               FROM distributor.posts"""
        )
        assert row is not None
        return row
    finally:
        await conn.close()


def steady(samples: list[Sample], expected: int) -> tuple[float, float, float]:
    """Jobs/s and CPU seconds per job (the distributors', the machine's) between the polls
    that first saw 5% and 95% of the commands sent (as `bench-publish` counts): start-up,
    a consumer group's first rebalance and the tail are left out."""
    first = next(s for s in samples if s.sent >= expected * 0.05)
    last = next(s for s in samples if s.sent >= expected * 0.95)
    jobs = (last.sent - first.sent) / 2
    if jobs <= 0 or last.at <= first.at:
        raise SystemExit("too few polls between 5% and 95% sent: use more --jobs")
    return (
        jobs / (last.at - first.at),
        (last.distributor_cpu - first.distributor_cpu) / jobs,
        (last.machine_cpu - first.machine_cpu) / jobs,
    )


async def plant_timers(
    database_url: str, tenant_id: uuid.UUID, connections: list[uuid.UUID], count: int,
    *, start: datetime, spread_seconds: float,
) -> None:  # fmt: skip
    conn = await asyncpg.connect(database_url)
    try:
        records = []
        for i in range(count):
            connection_id = connections[i % len(connections)]
            platform = Platform.FACEBOOK if i % 2 == 0 else Platform.INSTAGRAM
            job_id = f"timer-{i // 2}"
            command = PublishCommand(
                post_key=make_post_key(tenant_id, job_id, connection_id, 1),
                platform=platform, connection_id=connection_id, account_id=f"{platform.value}-1",
                job_id=job_id, revision=1, content=PostContent(text=f"Timer job {i}"),
            )  # fmt: skip
            due = start + timedelta(seconds=spread_seconds * i / count)
            records.append(
                (command.post_key, tenant_id, job_id, connection_id, platform.value, "publish",
                 1, "scheduled", due, command.model_dump_json(), "")
            )  # fmt: skip
        await conn.copy_records_to_table(
            "posts", schema_name="distributor", records=records,
            columns=["post_key", "tenant_id", "job_id", "connection_id", "platform", "action",
                     "revision", "state", "due_at", "command", "correlation_id"],
        )  # fmt: skip
    finally:
        await conn.close()


async def timer_lateness(database_url: str, expected: int, limit_seconds: float) -> list[float]:
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            sent = await conn.fetchval(
                "SELECT count(*) FROM distributor.posts WHERE job_id LIKE 'timer-%' "
                "AND state = 'sent'"
            )
            if sent >= expected:
                break
            await asyncio.sleep(1.0)
        rows = await conn.fetch(
            "SELECT extract(epoch FROM sent_at - due_at)::float8 AS late FROM distributor.posts "
            "WHERE job_id LIKE 'timer-%' AND state = 'sent'"
        )
        return [r["late"] for r in rows]
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--timer-start-seconds", type=float, default=20.0)
    parser.add_argument("--timer-spread-seconds", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--instances", type=int, default=1, help="distributor processes")
    args = parser.parse_args()

    with real_infra() as infra:
        state = scratch_dir("jobcast-bench-")
        ports = distinct_free_ports(args.instances)
        endpoints = Endpoints(
            infra.kafka_bootstrap_servers, infra.database_url, "http://127.0.0.1:9",
            generate_key(), ports={**{n: 0 for n in SERVICES}, "distributor": ports[0]},
        )  # fmt: skip
        port_variable = SERVICES["distributor"][1]
        distributors = [
            ManagedProcess(
                f"distributor-{n}" if n else "distributor", "services.distributor", state,
                env={**endpoints.env(), port_variable: str(port)},
            )
            for n, port in enumerate(ports)
        ]  # fmt: skip
        tenant_id, connections = asyncio.run(prepare_tenant(endpoints))
        print(f"producing {args.jobs} job events ...")
        asyncio.run(produce_jobs(infra.kafka_bootstrap_servers, tenant_id, args.jobs))
        try:
            for distributor in distributors:
                distributor.start()
            for distributor, port in zip(distributors, ports, strict=True):
                distributor.wait_ready(f"http://127.0.0.1:{port}/readyz")
            pids = [d.pid for d in distributors if d.pid is not None]
            samples: list[Sample] = []
            row = asyncio.run(
                wait_sent(infra.database_url, 2 * args.jobs, args.timeout, samples, pids)
            )
            # CPU per job does not depend on what else the machine runs, as the rate does.
            steady_rate, cpu_per_job, machine_per_job = steady(samples, 2 * args.jobs)
            span = (row["last_sent"] - row["first_planned"]).total_seconds()
            print(f"planting {args.timers} timers ...")
            start = datetime.now(UTC) + timedelta(seconds=args.timer_start_seconds)
            asyncio.run(
                plant_timers(
                    infra.database_url, tenant_id, connections, args.timers, start=start,
                    spread_seconds=args.timer_spread_seconds,
                )
            )  # fmt: skip
            late = asyncio.run(
                timer_lateness(
                    infra.database_url, args.timers,
                    args.timer_start_seconds + args.timer_spread_seconds + args.timeout,
                )
            )  # fmt: skip
            rss = max(peak_rss_mb(pid) for pid in pids)
        finally:
            for distributor in distributors:
                distributor.stop()

    rate = args.jobs / span
    fired_rate = args.timers / args.timer_spread_seconds
    # `--timers 0` measures the immediate jobs alone: no lateness to report.
    p50, p99, worst = (
        (percentile(late, 50), percentile(late, 99), max(late)) if late else (0.0, 0.0, 0.0)
    )
    report(
        "distributor",
        [
            ("jobs (2 connections each)", f"{args.jobs}", ""),
            ("commands sent", f"{row['sent']}", f"= {2 * args.jobs}"),
            ("immediate jobs, steady (5–95%)", f"{steady_rate:,.0f} jobs/s", "target ≥ 5,000"),
            ("immediate jobs, first to last", f"{rate:,.0f} jobs/s", "start-up included"),
            ("distributor instances", f"{args.instances}", "one consumer group"),
            ("distributor CPU per job", f"{cpu_per_job * 1e6:,.0f} µs", "user + system"),
            ("machine CPU per job", f"{machine_per_job * 1e6:,.0f} µs", "all processes"),
            ("timers pending", f"{args.timers:,}", f"due over {args.timer_spread_seconds:.0f} s"),
            ("timers fired", f"{len(late):,}", f"= {args.timers:,} ({fired_rate:,.0f}/s due)"),
            ("lateness p50", f"{p50 * 1000:,.0f} ms", "target ≤ 1,000 ms"),
            ("lateness p99", f"{p99 * 1000:,.0f} ms", "target ≤ 1,000 ms"),
            ("lateness max", f"{worst * 1000:,.0f} ms", ""),
            ("peak RSS (distributor)", f"{rss:,.0f} MiB", "the largest instance"),
        ],
        {
            "jobs": args.jobs, "commands_sent": row["sent"], "jobs_per_second": rate,
            "steady_jobs_per_second": steady_rate,
            "instances": args.instances, "cpu_seconds_per_job": cpu_per_job,
            "machine_cpu_seconds_per_job": machine_per_job,
            "timers": args.timers, "timer_spread_seconds": args.timer_spread_seconds,
            "timers_fired": len(late), "lateness_p50_s": p50, "lateness_p99_s": p99,
            "lateness_max_s": worst, "peak_rss_mib": rss, "infra": infra.how,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()

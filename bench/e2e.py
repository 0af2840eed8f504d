"""`make bench-e2e`: the whole pipeline, from ingest's HTTP API to both posts `posted`.

1. Throughput: N jobs (one tenant, a Facebook Page and an Instagram account per lane
   tenant) posted over HTTP in batches of 100 by 8 clients as fast as ingest takes them;
   the Graph sandbox answers at once (latency 0). Rate = jobs / (first accepted → the read
   model showing every post `posted`), and the steady rate over the middle 90% of jobs.
2. Latency at 20% of that rate: single events, open loop, for `--latency-seconds`; per
   post, accepted (ingest.accepted_events) → publish call (the publisher's claim, taken
   just before it calls the Graph API).
3. Attribution (bench/attribution.py): machine CPU per job by process and, within each
   service, by activity (py-spy samples) at three load levels — the burst of step 1, an
   open loop at 50% of its rate, and 5 jobs/s — and CPU per second with no jobs at all.
4. Baselines on the same broker, same run (bench/baselines.py): Kafka's own producer and
   consumer perf tools at the same record size, and a raw aiokafka relay with the same
   Kafka hops and fan-out. Printed as ratios.

Everything shares the machine's cores with Kafka, Postgres and the load generator.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from pydantic import SecretStr

from bench.attribution import PhaseCost, Stack, attributed, attribution_rows, with_jobs
from bench.baselines import BrokerLimit, RelayResult, broker_limit, raw_relay
from bench.common import (
    RESULTS_DIR,
    cpu_seconds,
    machine_cpu_seconds,
    peak_rss_mb,
    percentile,
    report,
)
from bench.http_load import Target, closed_loop, open_loop
from bench.load import TenantAccounts, batch_plan, tenant_accounts
from bench.proc_cpu import pid_listening_on
from devtools.devstack.session import Infra, real_infra
from devtools.stack import SERVICES
from jobcast.crypto import TokenCipher
from jobcast.db import create_pool, program_name
from jobcast.kafka.polling import QUIET_BEFORE_IDLE_S
from jobcast.tenancy import create_tenant, migrate_tenancy
from schemas import JobCreated, JobPosting, Platform
from services.distributor.repo import add_connection, migrate_distributor
from tests.suites.stack import UNLIMITED_SANDBOX, Pipeline, running_pipeline

BATCH = 100
# Connections for single events: enough that none waits for one at the rates sent here.
SENDERS = 32
# Production settings (no test timers), except what a load test must switch off.
BENCH_ENV = {
    "INGEST_RATE_LIMIT_PER_SECOND": "1e9",
    "INGEST_RATE_LIMIT_BURST": "1e9",
    "JOBCAST_LOG_LEVEL": "WARNING",
}


@contextlib.contextmanager
def bench_pipeline(
    prefix: str,
    sandbox_args: Sequence[str] = UNLIMITED_SANDBOX,
    settings: Mapping[str, str] | None = None,
) -> Iterator[tuple[Infra, Pipeline]]:
    """Kafka and Postgres (`real_infra`), and the whole pipeline on them at full speed:
    no ingest rate limit, the sandbox at latency 0 with no budgets; `settings` are the
    services' environment beyond that."""
    with (
        real_infra() as infra,
        running_pipeline(
            infra.kafka_bootstrap_servers, infra.database_url,
            env={**BENCH_ENV, **(settings or {})},
            sandbox_args=sandbox_args, prefix=prefix,
        ) as pipeline,
    ):  # fmt: skip
        yield infra, pipeline


@dataclass(frozen=True)
class Lane:
    """A tenant with one Facebook Page and one Instagram account: two publisher lanes."""

    tenant_id: uuid.UUID
    api_key: str


def job(job_id: str) -> dict[str, Any]:
    return {
        "event_type": "job.created",
        "payload": {
            "job_id": job_id, "title": "Barista", "company": "Kopi Pagi",
            "location": "Ubud, Bali", "employment_type": "daily",
            "apply_url": f"https://jobs.example.com/{job_id}",
            "image_url": f"https://cdn.example.com/{job_id}.jpg",
            "description": "Morning shift, 07:00-15:00. Latte art a plus.",
        },
    }  # fmt: skip


def job_record() -> bytes:
    """One job event as ingest writes it to `jobs.events` (the baselines' record)."""
    posting = JobPosting.model_validate(job("x")["payload"])
    return JobCreated(tenant_id=uuid.uuid4(), payload=posting).model_dump_json().encode()


async def make_lanes(pool: asyncpg.Pool, secret_key: str, count: int) -> list[Lane]:
    """Tenants with a Page and an IG account each: more tenants, more parallel lanes."""
    return await connect_tenants(pool, secret_key, tenant_accounts(count))


async def connect_tenants(
    pool: asyncpg.Pool, secret_key: str, tenants: Sequence[TenantAccounts]
) -> list[Lane]:
    """A jobcast tenant per entry, with its Page and IG account connected (its Page token)."""
    await migrate_tenancy(pool)
    await migrate_distributor(pool)
    cipher = TokenCipher(SecretStr(secret_key))
    lanes = []
    for accounts in tenants:
        tenant, key = await create_tenant(pool, accounts.name)
        for platform, account in (
            (Platform.FACEBOOK, accounts.page_id), (Platform.INSTAGRAM, accounts.instagram_id),
        ):  # fmt: skip
            await add_connection(pool, cipher, tenant_id=tenant.tenant_id, platform=platform,
                                 account_id=account, token=accounts.token)  # fmt: skip
        lanes.append(Lane(tenant.tenant_id, key))
    return lanes


def batch_lanes(lanes: Sequence[Lane], job_ids: Sequence[str]) -> list[Lane]:
    """The lane each job goes out under in `post_batches`: batches of BATCH take turns."""
    return [
        lanes[batch.tenant]
        for batch in batch_plan(job_ids, len(lanes), BATCH)
        for _ in batch.job_ids
    ]


def single_lanes(lanes: Sequence[Lane], job_ids: Sequence[str]) -> list[Lane]:
    """The lane each job goes out under in `latency`: one job each, lanes taking turns."""
    return [lanes[n % len(lanes)] for n in range(len(job_ids))]


async def post_batches(
    url: str, lanes: Sequence[Lane], job_ids: Sequence[str], clients: int, size: int = BATCH
) -> None:
    """Send the jobs in batches of `size`, lanes taking turns, from `clients` senders."""
    targets = [Target(url, lane.api_key) for lane in lanes]
    requests = [
        targets[batch.tenant].post({"events": [job(j) for j in batch.job_ids]})
        for batch in batch_plan(job_ids, len(lanes), size)
    ]
    await closed_loop(targets[0].host, targets[0].port, requests, clients)


async def wait_posted(
    pool: asyncpg.Pool, job_ids: Sequence[str], lanes: Sequence[Lane], seconds: float
) -> float:
    """Until the read model shows both posts of every job `posted`; returns that moment.

    `lanes[n]` is the lane job n went out under. Each poll asks only about the jobs not
    yet done, by (tenant, job): the read model's index, not a scan of every post (the
    bench's own polling was a visible share of the stack's CPU per job)."""
    waiting = {job_id: lane.tenant_id for job_id, lane in zip(job_ids, lanes, strict=True)}
    async with asyncio.timeout(seconds):
        while True:
            done = await pool.fetch(
                """SELECT p.job_id FROM metrics.job_posts p
                   JOIN unnest($1::uuid[], $2::text[]) AS w(tenant_id, job_id)
                     ON p.tenant_id = w.tenant_id AND p.job_id = w.job_id
                   WHERE p.status = 'posted' GROUP BY p.job_id HAVING count(*) >= 2""",
                list(waiting.values()),
                list(waiting),
            )
            for row in done:
                del waiting[row["job_id"]]
            if not waiting:
                return time.time()
            await asyncio.sleep(0.25)


@dataclass(frozen=True)
class Throughput:
    jobs: int
    seconds: float  # first accepted → read model complete
    steady_jobs_per_second: float
    # CPU milliseconds per job: each service, and the whole machine (Kafka, Postgres, the
    # sandbox and the load generator included). Unlike rates, these hardly depend on
    # what else the machine is doing.
    cpu_ms_per_job: dict[str, float]

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds


async def throughput(
    pipeline: Pipeline, pool: asyncpg.Pool, lanes: Sequence[Lane], jobs: int
) -> Throughput:
    job_ids = [f"e2e-{uuid.uuid4().hex[:10]}-{n}" for n in range(jobs)]
    processes = {**pipeline.services, SANDBOX: pipeline.sandbox}
    pids = {name: p.pid for name, p in processes.items() if p.pid}
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    machine_before = machine_cpu_seconds()
    started = time.time()
    await post_batches(f"{pipeline.url('ingest')}/v1/job-events", lanes, job_ids, clients=8)
    finished = await wait_posted(
        pool, job_ids, batch_lanes(lanes, job_ids), seconds=max(600, jobs / 5)
    )
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    cpu["machine"] = machine_cpu_seconds() - machine_before
    # Each job is done when its second post is; the middle 90% gives the steady rate.
    done = await pool.fetch(
        "SELECT max(posted_at) AS done FROM metrics.job_posts WHERE job_id = ANY($1::text[])"
        " GROUP BY job_id ORDER BY 1",
        job_ids,
    )
    at = [r["done"].timestamp() for r in done]
    low, high = at[len(at) // 20], at[len(at) * 19 // 20]
    steady = (len(at) * 0.9) / max(high - low, 1e-6)
    return Throughput(
        jobs, finished - started, steady, {k: v * 1000 / jobs for k, v in cpu.items()}
    )


async def latency(
    pipeline: Pipeline, pool: asyncpg.Pool, lanes: Sequence[Lane], rate: float, seconds: float
) -> dict[str, list[float]]:
    """Open loop: one single-event request every 1/rate s; accepted → claim, per platform."""
    url = f"{pipeline.url('ingest')}/v1/job-events"
    job_ids = [f"lat-{uuid.uuid4().hex[:10]}-{n}" for n in range(max(1, int(rate * seconds)))]
    sent_under = single_lanes(lanes, job_ids)
    targets = {lane.tenant_id: Target(url, lane.api_key) for lane in lanes}
    requests = [
        targets[lane.tenant_id].post(job(j)) for j, lane in zip(job_ids, sent_under, strict=True)
    ]
    first = targets[lanes[0].tenant_id]
    answered, failed = await open_loop(first.host, first.port, requests, rate, SENDERS)
    if failed:
        raise RuntimeError(f"{failed} of {len(requests)} single events were not accepted")
    await wait_posted(pool, job_ids, sent_under, seconds=300)
    # The distributor's post row is stamped when its transaction began: the split of each
    # post's wait between getting there and the rest (the distributor's own work, the
    # publish command's hop, the publisher).
    rows = await pool.fetch(
        """SELECT c.platform, extract(epoch FROM c.claimed_at - a.accepted_at) * 1000 AS ms,
                  extract(epoch FROM d.created_at - a.accepted_at) * 1000 AS to_distributor
           FROM publishing.post_claims c
           JOIN ingest.accepted_events a ON a.job_id = c.job_id AND a.tenant_id = c.tenant_id
           LEFT JOIN distributor.posts d ON d.post_key = c.post_key
           WHERE c.job_id = ANY($1::text[])""",
        job_ids,
    )
    found: dict[str, list[float]] = {
        "facebook": [], "instagram": [], "all": [], TO_DISTRIBUTOR: [], ON_FROM_THERE: [],
        ANSWERED: answered,
    }  # fmt: skip
    for r in rows:
        ms = float(r["ms"])
        found[r["platform"]].append(ms)
        found["all"].append(ms)
        if r["to_distributor"] is not None:
            found[TO_DISTRIBUTOR].append(float(r["to_distributor"]))
            found[ON_FROM_THERE].append(ms - float(r["to_distributor"]))
    return found


TO_DISTRIBUTOR = "accepted → distributor"
# The client's wait for its 202 (from when the request was due), which "accepted" follows.
ANSWERED = "request → 202"
ON_FROM_THERE = "distributor → publish call"


LOAD_GENERATOR = "load generator"
SANDBOX = "graph-sandbox"


def stack_seconds(cost: PhaseCost) -> float:
    """The stack's CPU in a phase: not the Graph stand-in's, nor the bench's own sampling
    in the idle phase (`PhaseCost.stack_seconds`)."""
    return cost.stack_seconds(outside=[SANDBOX], bench_own=[LOAD_GENERATOR])


def infra_pids(pipeline: Pipeline) -> tuple[int | None, int | None]:
    """Kafka's JVM and the postmaster, found by the ports they listen on (None when they
    run elsewhere, e.g. in containers)."""
    kafka_port = int(pipeline.endpoints.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[1])
    database_port = urlsplit(pipeline.endpoints.database_url).port or 5432
    return pid_listening_on(kafka_port), pid_listening_on(database_port)


def attribution_stack(pipeline: Pipeline, pool: asyncpg.Pool, profile_rate: int) -> Stack:
    """The private stack's processes (`infra_pids` for Kafka and the postmaster)."""
    services = {name: p.pid for name, p in pipeline.services.items() if p.pid}
    processes = {**services, LOAD_GENERATOR: os.getpid()}
    if pipeline.sandbox.pid:
        processes[SANDBOX] = pipeline.sandbox.pid
    kafka, postmaster = infra_pids(pipeline)
    if kafka is not None:
        processes["kafka"] = kafka
    programs = {module: name for name, (module, _, _) in SERVICES.items()}
    programs[program_name()] = LOAD_GENERATOR
    profiles = RESULTS_DIR / "e2e-profiles"
    shutil.rmtree(profiles, ignore_errors=True)  # this run's stacks only
    return Stack(
        processes, services, postmaster, programs, pool,
        profiles, profile_rate,
    )  # fmt: skip


async def open_loop_phase(
    pipeline: Pipeline, pool: asyncpg.Pool, lanes: Sequence[Lane], rate: float, seconds: float
) -> tuple[int, dict[str, list[float]]]:
    """Single events at `rate` for `seconds`, until all are posted; the job count and what
    `latency` found."""
    found = await latency(pipeline, pool, lanes, rate, seconds)
    return max(1, int(rate * seconds)), found  # as many as `latency` sends


@dataclass(frozen=True)
class Phases:
    """What `measure` found: the burst, the latency run and the attribution."""

    result: Throughput
    found: list[dict[str, list[float]]]  # one per latency run
    rate: float
    costs: list[PhaseCost]
    half: dict[str, list[float]]  # what the 50% phase's jobs waited


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--lanes", type=int, default=250, help="tenants, each with 2 accounts")
    parser.add_argument("--latency-seconds", type=float, default=30)
    parser.add_argument("--latency-runs", type=int, default=5,
                        help="latency phases in a row (the target is for each)")  # fmt: skip
    parser.add_argument("--rate-seconds", type=float, default=30,
                        help="length of the 50%%-rate and 5 jobs/s phases")  # fmt: skip
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--idle-settle-seconds", type=float, default=QUIET_BEFORE_IDLE_S + 5,
                        help="wait after the last job before the idle phase: consumers "
                             "fetch as idle only after a quiet while")  # fmt: skip
    parser.add_argument("--profile-rate", type=int, default=100,
                        help="py-spy samples per second per service; 0: no activities")  # fmt: skip
    parser.add_argument("--baseline-records", type=int, default=200_000)
    parser.add_argument("--relay-jobs", type=int, default=20_000)
    args = parser.parse_args()
    size = len(job_record())

    async def measure(pipeline: Pipeline) -> Phases:
        pool = await create_pool(pipeline.endpoints.database_url, max_size=4)
        try:
            lanes = await make_lanes(pool, pipeline.endpoints.secret_key, args.lanes)
            await throughput(pipeline, pool, lanes, min(200, args.jobs))  # warm-up
            stack = attribution_stack(pipeline, pool, args.profile_rate)
            costs: list[PhaseCost] = []
            async with attributed(stack, "burst", costs):
                result = await throughput(pipeline, pool, lanes, args.jobs)
            with_jobs(costs, result.jobs)
            half = 0.5 * result.jobs_per_second
            async with attributed(stack, f"{half:,.0f}/s (50%)", costs):
                jobs, at_half = await open_loop_phase(
                    pipeline, pool, lanes, half, args.rate_seconds
                )
            with_jobs(costs, jobs)
            async with attributed(stack, "5/s", costs):
                jobs, _ = await open_loop_phase(pipeline, pool, lanes, 5, args.rate_seconds)
            with_jobs(costs, jobs)
            await asyncio.sleep(args.idle_settle_seconds)
            async with attributed(stack, "idle", costs):
                await asyncio.sleep(args.idle_seconds)
            rate = 0.2 * result.jobs_per_second
            found = [
                await latency(pipeline, pool, lanes, rate, args.latency_seconds)
                for _ in range(max(1, args.latency_runs))
            ]
            return Phases(result, found, rate, costs, at_half)
        finally:
            await pool.close()

    with bench_pipeline("jobcast-bench-e2e-") as (infra, pipeline):
        print(f"e2e: {args.jobs} jobs over {args.lanes} tenants (2 posts each) ...")
        phases = asyncio.run(measure(pipeline))
        rss = {name: peak_rss_mb(p.pid) for name, p in pipeline.services.items() if p.pid}
        print("e2e: baselines (broker perf tools, raw relay) ...")
        pipeline.stop_services()  # the baselines get the cores to themselves
        limit = broker_limit(infra.kafka_bootstrap_servers, size, args.baseline_records)
        relay = raw_relay(
            infra.kafka_bootstrap_servers, job_record(), args.relay_jobs, pipeline.state_dir
        )
    print_report(
        Measured(args.lanes, size, phases.result, phases.found, phases.rate, rss, limit, relay,
                 infra.how, phases.costs, phases.half)
    )  # fmt: skip


@dataclass(frozen=True)
class Measured:
    lanes: int
    size: int
    result: Throughput
    found: list[dict[str, list[float]]]  # one per latency run
    rate: float
    rss: dict[str, float]
    limit: BrokerLimit
    relay: RelayResult
    how: str
    costs: list[PhaseCost]
    half: dict[str, list[float]]


def print_report(m: Measured) -> None:
    e2e, relay, limit = m.result.jobs_per_second, m.relay.jobs_per_second, m.limit
    pooled: dict[str, list[float]] = {}
    for run in m.found:
        for k, v in run.items():
            pooled.setdefault(k, []).extend(v)
    p = {k: (percentile(v, 50), percentile(v, 99)) if v else (0.0, 0.0) for k, v in pooled.items()}
    p99s = [percentile(run["all"], 99) if run["all"] else 0.0 for run in m.found]
    at_half = {k: (percentile(v, 50), percentile(v, 99)) for k, v in m.half.items() if v}
    under = sum(1 for v in p99s if v < 100)
    rows = [
        ("jobs (2 posts each)", f"{m.result.jobs}", f"{m.lanes} tenants, sandbox latency 0"),
        ("end to end, first to last", f"{e2e:,.0f} jobs/s", "target ≥ 5,000"),
        ("end to end, steady (5–95%)", f"{m.result.steady_jobs_per_second:,.0f} jobs/s", ""),
        (f"latency p50 at {m.rate:,.0f} jobs/s", f"{p['all'][0]:,.0f} ms",
         "accepted → publish call"),
        (f"latency p99 at {m.rate:,.0f} jobs/s", f"{p['all'][1]:,.0f} ms",
         f"all {len(m.found)} runs pooled"),
        ("latency p99 per run", ", ".join(f"{v:,.0f}" for v in p99s) + " ms",
         f"target < 100 ms in every run: {under} of {len(p99s)}"),
        ("  Facebook p50 / p99", f"{p['facebook'][0]:,.0f} / {p['facebook'][1]:,.0f} ms", ""),
        ("  Instagram p50 / p99", f"{p['instagram'][0]:,.0f} / {p['instagram'][1]:,.0f} ms", ""),
        *((f"  {hop} p50 / p99", f"{p[hop][0]:,.0f} / {p[hop][1]:,.0f} ms", "")
          for hop in (TO_DISTRIBUTOR, ON_FROM_THERE, ANSWERED) if hop in p),
        *((f"  at 50% of the rate: {hop} p50 / p99",
           f"{at_half[hop][0]:,.0f} / {at_half[hop][1]:,.0f} ms", "")
          for hop in ("all", ANSWERED) if hop in at_half),
        ("record size", f"{m.size} B", "a job event on jobs.events"),
        ("broker: produce", f"{limit.produce_per_second:,.0f} rec/s", "ProducerPerformance"),
        ("broker: consume", f"{limit.consume_per_second:,.0f} rec/s", "ConsumerPerformance"),
        ("raw relay (3 hops, fan-out 2)", f"{relay:,.0f} jobs/s", f"{m.relay.jobs} jobs"),
        ("e2e ÷ raw relay", f"{e2e / relay:.1%}", "target ≥ 50%"),
        ("e2e ÷ broker produce", f"{e2e / limit.produce_per_second:.2%}", ""),
        ("raw relay ÷ broker produce", f"{relay / limit.produce_per_second:.1%}", ""),
        *((f"peak RSS {name}", f"{mib:,.0f} MiB", "") for name, mib in sorted(m.rss.items())),
        *((f"CPU per job: {name}", f"{ms:,.2f} ms", "") for name, ms
          in sorted(m.result.cpu_ms_per_job.items())),
        *attribution_rows(m.costs, stack_seconds),
    ]  # fmt: skip
    report("e2e", rows, {
        "jobs": m.result.jobs, "lanes": m.lanes, "record_size": m.size,
        "jobs_per_second": e2e, "steady_jobs_per_second": m.result.steady_jobs_per_second,
        "latency_rate": m.rate,
        "latency_ms": {k: {"p50": v[0], "p99": v[1]} for k, v in p.items()},
        "latency_samples": {k: len(v) for k, v in pooled.items()},
        "half_rate_latency_ms": {k: {"p50": v[0], "p99": v[1]} for k, v in at_half.items()},
        "latency_runs": [
            {k: {"p50": percentile(v, 50), "p99": percentile(v, 99), "samples": len(v)}
             for k, v in run.items() if v}
            for run in m.found
        ],
        "broker": vars(limit),
        "relay": {"jobs": m.relay.jobs, "seconds": m.relay.seconds, "jobs_per_second": relay,
                  "steady_jobs_per_second": m.relay.steady_jobs_per_second},
        "ratio_relay": e2e / relay, "ratio_broker": e2e / limit.produce_per_second,
        "peak_rss_mib": m.rss, "cpu_ms_per_job": m.result.cpu_ms_per_job, "infra": m.how,
        "attribution": [
            {"phase": c.name, "jobs": c.jobs, "seconds": c.seconds, "cpu_seconds": c.cpu,
             "cpu_ms_per_job": c.per_job_ms(), "cpu_per_second": c.per_second(),
             "stack_cpu_seconds": stack_seconds(c),
             "activity_shares": c.activities}
            for c in m.costs
        ],
    })  # fmt: skip


if __name__ == "__main__":
    main()

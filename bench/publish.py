"""`make bench-publish`: one publisher process against the Graph sandbox at 200 ms latency.

10,000 commands over 500 accounts are put on the publisher's topic first; then the
publisher starts and works through them. Measured from Postgres timestamps (claim →
outcome), so the numbers are the publisher's own. Exactly-once is checked against the
sandbox ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from bench.common import cpu_seconds, machine_cpu_seconds, peak_rss_mb, percentile, report
from devtools.devstack.processes import ManagedProcess
from devtools.devstack.session import distinct_free_ports, real_infra, scratch_dir
from devtools.stack import SERVICES, Endpoints, sandbox_process
from jobcast.crypto import TokenCipher, generate_key
from jobcast.db import create_pool
from jobcast.tenancy import create_tenant, migrate_tenancy
from jobcast.topics import publish_topic
from schemas import (
    MediaItem,
    MediaKind,
    Platform,
    PostContent,
    PublishCommand,
    PublishRequested,
    make_post_key,
)
from services.distributor.repo import add_connection, migrate_distributor
from services.publishing.repo import migrate_publishing

MODULES = {
    Platform.FACEBOOK: ("publisher-facebook", "services.publisher_facebook"),
    Platform.INSTAGRAM: ("publisher-instagram", "services.publisher_instagram"),
}


async def prepare(
    endpoints: Endpoints, platform: Platform, accounts: int, commands: int
) -> list[str]:
    """A tenant with `accounts` connections, and `commands` commands on the topic."""
    pool = await create_pool(endpoints.database_url, max_size=4)
    try:
        await migrate_tenancy(pool)
        await migrate_distributor(pool)
        await migrate_publishing(pool)
        tenant, _ = await create_tenant(pool, f"bench-{uuid.uuid4().hex[:8]}")
        cipher = TokenCipher(SecretStr(endpoints.secret_key))
        connections = []
        for _ in range(accounts):
            account_id = str(uuid.uuid4().int)[:15]
            connections.append(
                await add_connection(
                    pool,
                    cipher,
                    tenant_id=tenant.tenant_id,
                    platform=platform,
                    account_id=account_id,
                    token=f"bench-{account_id}",
                )
            )
    finally:
        await pool.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=endpoints.kafka_bootstrap_servers, linger_ms=20, acks="all"
    )
    await producer.start()
    image = [MediaItem(kind=MediaKind.IMAGE, url="https://cdn.example.com/bench.jpg")]
    keys = []
    try:
        for n in range(commands):
            connection = connections[n % accounts]
            job_id = f"bench-{n}"
            command = PublishCommand(
                post_key=make_post_key(tenant.tenant_id, job_id, connection.connection_id, 1),
                platform=platform, connection_id=connection.connection_id,
                account_id=connection.account_id, job_id=job_id, revision=1,
                content=PostContent(
                    text=f"Barista wanted, job {n}. Apply: jobs.example.com/{n}",
                    media=image if platform is Platform.INSTAGRAM else [],
                ),
            )  # fmt: skip
            event = PublishRequested(tenant_id=tenant.tenant_id, payload=command)
            await producer.send(
                publish_topic(platform), event.model_dump_json().encode(),
                key=str(connection.connection_id).encode(),
            )  # fmt: skip
            keys.append(command.post_key)
        await producer.flush()
    finally:
        await producer.stop()
    return keys


async def wait_done(database_url: str, keys: list[str], limit_seconds: float) -> asyncpg.Record:
    """Poll until every key has a final outcome; return timing aggregates."""
    pool = await create_pool(database_url, max_size=2)
    try:
        async with asyncio.timeout(limit_seconds):
            while True:
                done = await pool.fetchval(
                    "SELECT count(*) FROM publishing.post_claims"
                    " WHERE post_key = ANY($1::text[]) AND state = 'done'",
                    keys,
                )
                if done >= len(keys):
                    break
                await asyncio.sleep(0.5)
        row = await pool.fetchrow(
            """SELECT min(claimed_at) AS first_claim, max(updated_at) AS last_done,
                      count(*) FILTER (WHERE result_event->'payload'->>'status' = 'posted')
                        AS posted,
                      array_agg(extract(epoch FROM updated_at - claimed_at)) AS latencies,
                      array_agg(extract(epoch FROM updated_at)) AS done_at
               FROM publishing.post_claims WHERE post_key = ANY($1::text[])""",
            keys,
        )
        assert row is not None
        return row
    finally:
        await pool.close()


async def ledger_total(sandbox_url: str) -> int:
    async with httpx.AsyncClient(timeout=60) as http:
        body = (await http.get(f"{sandbox_url}/_sandbox/ledger")).json()
    counts = body["counts"]
    return int(counts.get("fb_posts", 0)) + int(counts.get("ig_media", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--platform", type=Platform, default=Platform.FACEBOOK)
    parser.add_argument("--commands", type=int, default=10_000)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument(
        "--lanes", type=int, default=1, help="PUBLISH_PER_ACCOUNT_CONCURRENCY of the publisher"
    )
    parser.add_argument(
        "--callgrind-log",
        default=None,
        help="run the publisher under valgrind's callgrind, its summary in this file "
        "(instructions, not seconds: see bench/instructions.py)",
    )
    args = parser.parse_args()
    name, module = MODULES[args.platform]

    with real_infra() as infra:
        state = scratch_dir("jobcast-bench-")
        sandbox_port, service_port = distinct_free_ports(2)
        endpoints = Endpoints(
            infra.kafka_bootstrap_servers, infra.database_url,
            f"http://127.0.0.1:{sandbox_port}", generate_key(),
            ports={**{n: 0 for n in SERVICES}, name: service_port},
        )  # fmt: skip
        sandbox = sandbox_process(state, sandbox_port)
        sandbox.args += [
            "--latency-ms", str(args.latency_ms), "--account-hourly-budget", "0",
            "--ig-quota", "1000000", "--video-processing-s", "0",
        ]  # fmt: skip
        env = {**endpoints.env(), "PUBLISH_PER_ACCOUNT_CONCURRENCY": str(args.lanes)}
        publisher = ManagedProcess(name, module, state, env=env)
        if args.callgrind_log:
            publisher.launcher = [
                "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                f"--log-file={args.callgrind_log}",
            ]  # fmt: skip
        try:
            sandbox.start()
            sandbox.wait_ready(f"{endpoints.graph_api_url}/_sandbox/ledger")
            print(f"preparing {args.commands} commands over {args.accounts} accounts ...")
            keys = asyncio.run(prepare(endpoints, args.platform, args.accounts, args.commands))
            assert sandbox.pid is not None
            started = time.monotonic()
            sandbox_cpu, machine_cpu = cpu_seconds(sandbox.pid), machine_cpu_seconds()
            publisher.start()
            # Under callgrind start-up alone takes minutes.
            publisher.wait_ready(
                f"{endpoints.url(name)}/readyz", timeout=900 if args.callgrind_log else 60
            )
            row = asyncio.run(wait_done(infra.database_url, keys, args.timeout))
            wall = time.monotonic() - started
            assert publisher.pid is not None
            rss = peak_rss_mb(publisher.pid)
            # CPU per post: where the two shared cores went (start-up included).
            per_post = {
                "publisher": cpu_seconds(publisher.pid),
                "sandbox": cpu_seconds(sandbox.pid) - sandbox_cpu,
                "machine": machine_cpu_seconds() - machine_cpu,
            }
            per_post = {k: v * 1000 / len(keys) for k, v in per_post.items()}
            on_platform = asyncio.run(ledger_total(endpoints.graph_api_url))
        finally:
            publisher.stop()
            sandbox.stop()

    span = (row["last_done"] - row["first_claim"]).total_seconds()
    latencies = [float(x) * 1000 for x in row["latencies"]]
    rate = len(keys) / span
    # The middle 90% of completions: one straggler (a 30 s Graph timeout) cannot hide it.
    done_at = sorted(float(x) for x in row["done_at"])
    low, high = done_at[len(done_at) // 20], done_at[len(done_at) * 19 // 20]
    steady = (len(done_at) * 0.9) / max(high - low, 1e-6)
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    report(
        # One file per configuration: `make bench-publish` runs Instagram with 1 and 2 lanes.
        f"publish-{args.platform.value}"
        + (f"-{args.lanes}-lanes" if args.lanes > 1 else "")
        + ("-callgrind" if args.callgrind_log else ""),  # not to overwrite a timed run
        [
            ("commands", f"{len(keys)}", f"over {args.accounts} accounts"),
            ("sandbox latency", f"{args.latency_ms} ms", "per Graph call"),
            ("posted", f"{row['posted']}", f"= {len(keys)}"),
            ("on the platform (ledger)", f"{on_platform}", f"= {len(keys)} (exactly once)"),
            ("throughput, steady (5–95%)", f"{steady:,.0f} posts/s", "target ≥ 1,000"),
            ("throughput, first to last", f"{rate:,.0f} posts/s", ""),
            ("publish latency p50", f"{p50:,.0f} ms", "claim → outcome"),
            ("publish latency p99", f"{p99:,.0f} ms", ""),
            ("peak RSS (publisher)", f"{rss:,.0f} MiB", "target < 150"),
            ("CPU per post, publisher", f"{per_post['publisher']:.2f} ms", f"{args.lanes} lane(s)"),
            ("CPU per post, sandbox", f"{per_post['sandbox']:.2f} ms", "the Graph API's share"),
            ("CPU per post, machine", f"{per_post['machine']:.2f} ms", "all processes"),
            ("wall time incl. start", f"{wall:,.1f} s", ""),
        ],
        {
            "platform": args.platform.value, "commands": len(keys), "accounts": args.accounts,
            "latency_ms": args.latency_ms, "posted": row["posted"], "ledger": on_platform,
            "posts_per_second": rate, "steady_posts_per_second": steady,
            "p50_ms": p50, "p99_ms": p99, "peak_rss_mib": rss, "lanes": args.lanes,
            "cpu_ms_per_post": per_post,
            "infra": infra.how,
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()

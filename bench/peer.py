"""`make bench-peer`: jobcast side by side with the Celery peer (`../shared/peers/celery_peer`:
FastAPI + Postgres + Redis + Celery prefork x4 + httpx), the same load on the same Graph
stand-in, one system at a time, alternated (peer, jobcast, peer, jobcast).

The load: `--tenants` tenants, each with a Facebook Page and its Instagram account;
`--jobs` jobs sent in batches of `--batch` with `--in-flight` requests outstanding; done
when every post is final. Before each measured run a `--warmup-jobs` load goes through
unmeasured (start-up, first connections, imports). Each run starts its system and a fresh
Graph sandbox (`devtools.graph_sandbox`, latency `--latency-ms`, no budgets) with the
tenants' accounts registered under a token it checks, and stops both after.

Per run: jobs/s (first request → every post final); machine CPU per job from /proc/stat
less the sandbox's (and, less sensitive to other work on the machine, the CPU of the
system's own process trees plus the load generator's); accepted → posted p50/p99 (peer:
`posts.created_at → finished_at`; jobcast: `ingest.accepted_events.accepted_at →
metrics.job_posts.posted_at`, as `make bench-e2e` reads them); Graph calls per job (the
sandbox's call sequence numbers); the final statuses. Then jobcast ÷ peer for each pair
of runs and the medians. Exit status 1 when a run did not finish or posts failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from bench.common import cpu_seconds, machine_cpu_seconds, report
from bench.e2e import bench_pipeline, connect_tenants, infra_pids, job
from bench.load import Batch, Jobs, TenantAccounts, batch_plan, send_batches, tenant_accounts
from bench.peer_stack import (
    PeerMissingError,
    check_peer,
    ensure_redis,
    ensure_venv,
    peer_jobs,
    peer_latencies,
    peer_statuses,
    register_connections,
    running_peer,
)
from bench.peer_summary import (
    FIGURES,
    FINAL,
    JOBCAST,
    PEER,
    RunFigures,
    pairs,
    ratios,
    run_json,
    run_order,
    summary,
)
from bench.proc_cpu import CLOCK_TICKS, all_stats, tree_ticks
from devtools.devstack.processes import ManagedProcess
from devtools.devstack.session import distinct_free_ports, scratch_dir
from devtools.stack import sandbox_process
from jobcast.db import create_pool
from tests.suites.stack import UNLIMITED_SANDBOX

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PEER_DIR = REPO.parent / "shared" / "peers" / "celery_peer"
# Where the peer's setup.sh puts its virtualenv unless told otherwise.
DEFAULT_PEER_VENV = Path(tempfile.gettempdir(), "celery-peer-venv")
GRAPH_VERSION = "v24.0"  # the services' default GRAPH_API_VERSION


@dataclass(frozen=True)
class Load:
    tenants: int
    jobs: int
    warmup_jobs: int
    batch: int
    in_flight: int
    latency_ms: int
    timeout_seconds: float
    # jobcast's PUBLISH_PER_ACCOUNT_CONCURRENCY (None: the service's default, 1: an
    # account's posts strictly in the order sent).
    account_lanes: int | None = None

    def jobcast_settings(self) -> dict[str, str]:
        lanes = self.account_lanes
        return {} if lanes is None else {"PUBLISH_PER_ACCOUNT_CONCURRENCY": str(lanes)}


def sandbox_args(load: Load) -> list[str]:
    """The same sandbox for both systems; its call log holds every call of a run, so the
    calls can be counted by operation."""
    calls = 20 * (load.jobs + load.warmup_jobs) + 1_000
    return [*UNLIMITED_SANDBOX, "--latency-ms", str(load.latency_ms),
            "--call-log-size", str(calls)]  # fmt: skip


@contextlib.contextmanager
def running_sandbox(load: Load) -> Iterator[ManagedProcess]:
    """A Graph sandbox of its own for a peer run (jobcast's pipeline starts its own the same
    way)."""
    state_dir = scratch_dir("jobcast-bench-peer-sandbox-")
    (port,) = distinct_free_ports(1)
    sandbox = sandbox_process(state_dir, port)
    sandbox.args += sandbox_args(load)
    try:
        sandbox.start()
        sandbox.wait_ready(f"http://127.0.0.1:{port}/_sandbox/ledger")
        yield sandbox
    finally:
        sandbox.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


def sandbox_url(sandbox: ManagedProcess) -> str:
    return f"http://127.0.0.1:{sandbox.args[sandbox.args.index('--port') + 1]}"


async def register_accounts(
    http: httpx.AsyncClient, graph: str, tenants: Sequence[TenantAccounts]
) -> None:
    """Each Page with its token and linked Instagram account; the Instagram account then
    accepts only the Page's token (the sandbox's token model)."""
    for t in tenants:
        for body in (
            {"account_id": t.page_id, "platform": "facebook", "token": t.token,
             "linked_instagram_id": t.instagram_id},
            {"account_id": t.instagram_id, "platform": "instagram"},
        ):  # fmt: skip
            response = await http.post(f"{graph}/_sandbox/accounts", json=body)
            response.raise_for_status()


async def last_call(http: httpx.AsyncClient, graph: str) -> int:
    """The sequence number of the sandbox's latest Graph call (0 before the first)."""
    response = await http.get(f"{graph}/_sandbox/calls", params={"limit": 1})
    response.raise_for_status()
    calls = response.json()["calls"]
    return int(calls[-1]["seq"]) if calls else 0


async def operations_since(
    http: httpx.AsyncClient, graph: str, seq: int, limit: int
) -> dict[str, int]:
    """Calls after `seq`, by operation (as many as the call log still holds)."""
    response = await http.get(f"{graph}/_sandbox/calls", params={"limit": limit})
    response.raise_for_status()
    return dict(Counter(str(c["operation"]) for c in response.json()["calls"] if c["seq"] > seq))


@dataclass(frozen=True)
class Reading:
    machine: float
    sandbox: float
    load_generator: float
    tree_ticks: dict[str, int]  # each of the system's process trees

    @property
    def stack_ticks(self) -> int:
        return sum(self.tree_ticks.values())  # the trees are disjoint


def read_cpu(sandbox_pid: int, roots: Mapping[str, int]) -> Reading:
    stats = all_stats()
    trees = {name: tree_ticks([pid], stats) for name, pid in roots.items()}
    return Reading(machine_cpu_seconds(), cpu_seconds(sandbox_pid), cpu_seconds(os.getpid()),
                   trees)  # fmt: skip


@dataclass(frozen=True)
class System:
    """What a measured run needs from one system."""

    name: str
    send: Callable[[Batch], Awaitable[None]]
    statuses: Callable[[Jobs], Awaitable[dict[str, int]]]
    latencies: Callable[[Jobs], Awaitable[list[float]]]
    roots: dict[str, int]  # its processes (trees) by name: services, workers, brokers, Postgres


async def wait_final(system: System, jobs: Jobs, seconds: float) -> dict[str, int]:
    """Poll until every post of the jobs is final (or `seconds` passed); the statuses then."""
    want = 2 * len(jobs.ids)
    deadline = time.monotonic() + seconds
    while True:
        statuses = await system.statuses(jobs)
        final = sum(n for s, n in statuses.items() if s in FINAL[system.name])
        if final >= want or time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(0.2)


async def send_load(system: System, load: Load, jobs: Jobs) -> None:
    await send_batches(batch_plan(jobs.ids, load.tenants, load.batch), system.send, load.in_flight)


async def measured_run(system: System, load: Load, sandbox: ManagedProcess) -> RunFigures:
    """A warm-up, then the measured load."""
    graph = sandbox_url(sandbox)
    sandbox_pid = sandbox.pid
    assert sandbox_pid is not None
    warmup = Jobs.new(load.warmup_jobs, "warmup")
    if warmup.ids:
        await send_load(system, load, warmup)
        await wait_final(system, warmup, load.timeout_seconds)
    jobs = Jobs.new(load.jobs, "peer-bench")
    async with httpx.AsyncClient(timeout=60) as http:
        seq = await last_call(http, graph)
        before = read_cpu(sandbox_pid, system.roots)
        started = time.monotonic()
        await send_load(system, load, jobs)
        statuses = await wait_final(system, jobs, load.timeout_seconds)
        seconds = time.monotonic() - started
        after = read_cpu(sandbox_pid, system.roots)
        calls = await last_call(http, graph) - seq
        operations = await operations_since(http, graph, seq, calls)
    return RunFigures(
        system=system.name, jobs=load.jobs, seconds=seconds,
        machine_cpu=after.machine - before.machine, sandbox_cpu=after.sandbox - before.sandbox,
        stack_cpu=(after.stack_ticks - before.stack_ticks) / CLOCK_TICKS,
        load_generator_cpu=after.load_generator - before.load_generator,
        latencies_ms=await system.latencies(jobs), graph_calls=calls,
        statuses=statuses, load_average=os.getloadavg()[0], graph_operations=operations,
        processes=sorted(system.roots),
        process_cpu={name: (after.tree_ticks[name] - before.tree_ticks[name]) / CLOCK_TICKS
                     for name in system.roots},
    )  # fmt: skip


async def peer_run(load: Load, peer_dir: Path, venv: Path) -> RunFigures:
    tenants = tenant_accounts(load.tenants, "peer")
    with running_sandbox(load) as sandbox:
        graph = sandbox_url(sandbox)
        with running_peer(peer_dir, venv, f"{graph}/{GRAPH_VERSION}") as peer:
            async with httpx.AsyncClient(timeout=60) as http:
                await register_accounts(http, graph, tenants)
            pool = await asyncpg.create_pool(peer.database_url, min_size=1, max_size=2)
            try:
                await register_connections(pool, tenants)
                async with httpx.AsyncClient(timeout=60) as http:

                    async def send(batch: Batch) -> None:
                        body = peer_jobs(tenants[batch.tenant].name,
                                         [job(j)["payload"] for j in batch.job_ids])  # fmt: skip
                        response = await http.post(f"{peer.api_url}/v1/job-events", json=body)
                        response.raise_for_status()

                    system = System(
                        PEER, send, lambda ids: peer_statuses(pool, ids),
                        lambda ids: peer_latencies(pool, ids), peer.pids,
                    )  # fmt: skip
                    return await measured_run(system, load, sandbox)
            finally:
                await pool.close()


async def jobcast_statuses(pool: asyncpg.Pool, jobs: Jobs) -> dict[str, int]:
    rows = await pool.fetch(
        "SELECT status, count(*) AS n FROM metrics.job_posts WHERE job_id LIKE $1 GROUP BY 1",
        jobs.pattern,
    )
    return {r["status"]: r["n"] for r in rows}


async def jobcast_latencies(pool: asyncpg.Pool, jobs: Jobs) -> list[float]:
    """Accepted at ingest → posted in the read model, ms, per posted post."""
    rows = await pool.fetch(
        """SELECT extract(epoch FROM p.posted_at - a.accepted_at) * 1000 AS ms
           FROM metrics.job_posts p
           JOIN ingest.accepted_events a ON a.tenant_id = p.tenant_id AND a.job_id = p.job_id
           WHERE p.job_id LIKE $1 AND p.status = 'posted'""",
        jobs.pattern,
    )
    return [float(r["ms"]) for r in rows]


def jobcast_run(load: Load) -> RunFigures:
    tenants = tenant_accounts(load.tenants, "jobcast")
    settings = load.jobcast_settings()
    with bench_pipeline("jobcast-bench-peer-", sandbox_args(load), settings) as (_, pipeline):
        roots = {name: p.pid for name, p in pipeline.services.items() if p.pid}
        kafka, postmaster = infra_pids(pipeline)
        roots |= {name: pid for name, pid in (("kafka", kafka), ("postgres", postmaster)) if pid}

        async def run() -> RunFigures:
            graph = pipeline.endpoints.graph_api_url
            async with httpx.AsyncClient(timeout=60) as http:
                await register_accounts(http, graph, tenants)
            pool = await create_pool(pipeline.endpoints.database_url, max_size=2)
            try:
                lanes = await connect_tenants(pool, pipeline.endpoints.secret_key, tenants)
                url = f"{pipeline.url('ingest')}/v1/job-events"
                async with httpx.AsyncClient(timeout=60) as http:
                    # The same HTTP client as the peer's load, so both generators cost alike.
                    async def send(batch: Batch) -> None:
                        lane = lanes[batch.tenant]
                        response = await http.post(
                            url, json={"events": [job(j) for j in batch.job_ids]},
                            headers={"Authorization": f"Bearer {lane.api_key}"},
                        )  # fmt: skip
                        response.raise_for_status()

                    system = System(
                        JOBCAST, send, lambda ids: jobcast_statuses(pool, ids),
                        lambda ids: jobcast_latencies(pool, ids), roots,
                    )  # fmt: skip
                    return await measured_run(system, load, pipeline.sandbox)
            finally:
                await pool.close()

        return asyncio.run(run())


def print_report(runs: Sequence[RunFigures], load: Load) -> Path:
    rows: list[tuple[str, str, str]] = [(
        "load", f"{load.jobs} jobs",
        f"{load.tenants} tenants x (Page + IG), batches of {load.batch}, {load.in_flight} in "
        f"flight, sandbox latency {load.latency_ms} ms; jobcast lanes per account "
        f"{load.account_lanes or 'default'}",
    )]  # fmt: skip
    for n, run in enumerate(runs, 1):
        statuses = ", ".join(f"{s} {c}" for s, c in sorted(run.statuses.items()))
        outcome = f"{statuses} of {run.expected_posts}; load {run.load_average:.1f}"
        rows.append((f"run {n}: {run.system}", f"{run.seconds:,.1f} s", outcome))
        for key, (label, unit) in FIGURES.items():
            rows.append((f"  {label.strip()}", f"{run.figures()[key]:,.2f} {unit}".strip(), ""))
        by_process = sorted(run.process_cpu.items(), key=lambda item: -item[1])
        rows.append(("  CPU per job by process", "ms", ", ".join(
            f"{name} {1000 * seconds / run.jobs:.2f}" for name, seconds in by_process
        )))  # fmt: skip
        operations = ", ".join(f"{op} {n}" for op, n in sorted(run.graph_operations.items()))
        rows.append(("  Graph calls by operation", f"{run.graph_calls}", operations))
    for n, (peer, ours) in enumerate(pairs(runs), 1):
        for key, value in ratios(peer, ours).items():
            rows.append(
                (f"pair {n}: {FIGURES[key][0].strip()} jobcast ÷ peer", f"{value:.2f}x", "")
            )
    for key, spread in summary(runs).items():
        label, unit = FIGURES[key]
        rows.append((
            f"median {label.strip()}",
            f"{spread[JOBCAST].median:,.2f} / {spread[PEER].median:,.2f}",
            f"jobcast / peer {unit}; jobcast ÷ peer {spread['ratio'].median:.2f}x "
            f"({spread['ratio'].low:.2f}-{spread['ratio'].high:.2f})",
        ))  # fmt: skip
    return report("peer", rows, {
        "load": vars(load),
        "runs": [run_json(r) for r in runs],
        "ratios": [ratios(p, j) for p, j in pairs(runs)],
        "summary": {key: {side: vars(s) for side, s in sides.items()}
                    for key, sides in summary(runs).items()},
    })  # fmt: skip


def one_run(system: str, load: Load, peer_dir: Path, venv: Path) -> RunFigures:
    """One measured run; a system that fails to start (Kafka on a loaded machine can take
    longer than its start-up limit) gets one more try."""
    for attempt in (1, 2):
        try:
            if system == PEER:
                return asyncio.run(peer_run(load, peer_dir, venv))
            return jobcast_run(load)
        except (RuntimeError, TimeoutError) as failed:
            if attempt == 2:
                raise
            print(f"  {system} run failed ({str(failed).splitlines()[0]}); once more", flush=True)
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=2, help="pairs of runs (peer, jobcast)")
    parser.add_argument("--tenants", type=int, default=10, help="each with a Page and IG account")
    parser.add_argument("--batch", type=int, default=50, help="jobs per request")
    parser.add_argument("--in-flight", type=int, default=4, help="requests outstanding")
    parser.add_argument("--warmup-jobs", type=int, default=100)
    parser.add_argument("--latency-ms", type=int, default=0, help="the sandbox's, per call")
    parser.add_argument("--timeout-seconds", type=float, default=600,
                        help="per load: unfinished posts after it count as such")  # fmt: skip
    parser.add_argument("--account-lanes", type=int, default=None,
                        help="jobcast's PUBLISH_PER_ACCOUNT_CONCURRENCY (default: 1)")  # fmt: skip
    parser.add_argument("--peer-dir", type=Path, default=DEFAULT_PEER_DIR,
                        help="the Celery peer (default: ../shared/peers/celery_peer)")  # fmt: skip
    parser.add_argument("--peer-venv", type=Path,
                        default=Path(os.environ.get("VENV", DEFAULT_PEER_VENV)),
                        help="its virtualenv (setup.sh makes it when missing)")  # fmt: skip
    args = parser.parse_args()
    try:
        peer_dir = check_peer(args.peer_dir)
    except PeerMissingError as missing:
        sys.exit(f"bench-peer: {missing}")
    load = Load(args.tenants, args.jobs, args.warmup_jobs, args.batch, args.in_flight,
                args.latency_ms, args.timeout_seconds, args.account_lanes)  # fmt: skip
    ensure_venv(peer_dir, args.peer_venv)
    ensure_redis()
    runs: list[RunFigures] = []
    order = run_order(args.runs)
    for n, system in enumerate(order, 1):
        print(f"peer bench: run {n} of {len(order)}: {system}, {load.jobs} jobs ...", flush=True)
        run = one_run(system, load, peer_dir, args.peer_venv)
        # The figures as they come: a later run that fails does not take them along.
        print(f"  {json.dumps(run_json(run))}", flush=True)
        runs.append(run)
    print_report(runs, load)
    broken = [f"run {n} ({r.system})" for n, r in enumerate(runs, 1) if not r.complete]
    if broken:
        sys.exit(f"bench-peer: {', '.join(broken)} did not post every post: "
                 "their rates and ratios are not comparable")  # fmt: skip


if __name__ == "__main__":
    main()

"""A whole pipeline on infrastructure the caller controls: kill, restart, measure.

The session pipeline (`tests/harness.py`) shares one broker and one database with every
test, so nothing may restart them. The chaos and replay suites restart the broker and
Postgres, SIGKILL services and reset consumer groups; they get a stack of their own: Kafka
and Postgres as local processes in a scratch dir (a restart keeps ports and data dirs), the
Graph sandbox and the five services. The benchmarks reuse `Pipeline` on `real_infra()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from devtools.devstack.kafka import LocalKafka
from devtools.devstack.postgres import LocalPostgres
from devtools.devstack.processes import ManagedProcess
from devtools.devstack.session import distinct_free_ports, scratch_dir
from devtools.stack import SERVICES, Endpoints, sandbox_process, service_processes
from jobcast.crypto import generate_key
from jobcast.kafka import ensure_topics
from tests.harness import FAST_TIMERS

SERVICE_NAMES: tuple[str, ...] = tuple(SERVICES)
T = TypeVar("T")

# Load runs: no ingest rate limit, no sandbox budgets, token checks out of the way.
LOAD_ENV: dict[str, str] = {
    **FAST_TIMERS,
    "INGEST_RATE_LIMIT_PER_SECOND": "1000000",
    "INGEST_RATE_LIMIT_BURST": "1000000",
    "DISTRIBUTOR_VERIFY_INTERVAL_SECONDS": "21600",
    "JOBCAST_LOG_LEVEL": "WARNING",
}
# The suites measure correctness, not Meta's limits: the full chaos run makes ~2.5M Graph
# calls within the hour, past the sandbox's default app budget (2M/h), and the publishers
# then rightly pace the whole app — for hours. (Pacing has tests of its own.)
UNLIMITED_SANDBOX = [
    "--account-hourly-budget", "0", "--app-hourly-budget", "0", "--ig-quota", "100000000",
]  # fmt: skip


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on a private event loop in a helper thread and return its result.

    The suites are driven from pytest's async tests and from plain CLIs alike; a loop of
    their own in a thread of their own works under both, and never touches the caller's.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="suite-loop") as pool:
        return pool.submit(asyncio.run, coro).result()


def keep_logs() -> bool:
    return bool(os.environ.get("JOBCAST_KEEP_TEST_LOGS"))


def rss_mib(pid: int | None) -> float | None:
    """Current resident memory of a process (VmRSS) in MiB; None if it is gone."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class Pipeline:
    """The sandbox and the five services as processes this object starts and stops."""

    endpoints: Endpoints
    sandbox: ManagedProcess
    services: dict[str, ManagedProcess]
    state_dir: Path

    def url(self, service: str) -> str:
        return self.endpoints.url(service)

    def start(self) -> None:
        """Start the sandbox, then all services at once; return when each is ready."""
        self.sandbox.start()
        self.sandbox.wait_ready(f"{self.endpoints.graph_api_url}/_sandbox/ledger")
        self.start_services()

    def start_services(self, names: Sequence[str] = SERVICE_NAMES, timeout: float = 120) -> None:
        for name in names:
            self.services[name].start()
        for name in names:
            self.services[name].wait_ready(f"{self.url(name)}/readyz", timeout=timeout)

    def stop_services(self) -> None:
        """SIGTERM every service (graceful: consumers commit what they finished)."""
        for process in self.services.values():
            process.stop()

    def stop(self) -> None:
        self.stop_services()
        self.sandbox.stop()

    def restart(self, name: str, *, kill: bool = True, timeout: float = 120) -> float:
        """SIGKILL (or SIGTERM) a service and start it again; seconds until it was ready."""
        started = time.monotonic()
        process = self.services[name]
        process.stop(kill=kill)
        process.start()
        process.wait_ready(f"{self.url(name)}/readyz", timeout=timeout)
        return time.monotonic() - started

    def dead(self) -> list[str]:
        """Services whose process is gone (not started, crashed or killed)."""
        return [name for name, p in self.services.items() if p.pid is None]

    def memory(self) -> dict[str, float | None]:
        """Current RSS (MiB) of every service and the sandbox."""
        found = {name: rss_mib(p.pid) for name, p in self.services.items()}
        found["graph-sandbox"] = rss_mib(self.sandbox.pid)
        return found


def make_pipeline(
    state_dir: Path,
    kafka: str,
    database_url: str,
    *,
    env: Mapping[str, str] = LOAD_ENV,
    sandbox_args: Sequence[str] = UNLIMITED_SANDBOX,
) -> Pipeline:
    """Describe a pipeline on free ports (nothing runs until `start`)."""
    sandbox_port, *ports = distinct_free_ports(1 + len(SERVICES))
    endpoints = Endpoints(
        kafka,
        database_url,
        f"http://127.0.0.1:{sandbox_port}",
        generate_key(),
        ports=dict(zip(SERVICES, ports, strict=True)),
        extra=dict(env),
    )
    sandbox = sandbox_process(
        state_dir,
        sandbox_port,
        app_id=env.get("GRAPH_APP_ID"),
        app_secret=env.get("GRAPH_APP_SECRET"),
    )
    sandbox.args += list(sandbox_args)
    services = {p.name: p for p in service_processes(state_dir, endpoints)}
    return Pipeline(endpoints, sandbox, services, state_dir)


@contextlib.contextmanager
def running_pipeline(
    kafka: str,
    database_url: str,
    *,
    env: Mapping[str, str] = LOAD_ENV,
    sandbox_args: Sequence[str] = UNLIMITED_SANDBOX,
    prefix: str = "jobcast-suite-",
) -> Iterator[Pipeline]:
    """A started pipeline on the given broker and database; stopped (and cleaned) after."""
    state_dir = scratch_dir(prefix)
    pipeline = make_pipeline(state_dir, kafka, database_url, env=env, sandbox_args=sandbox_args)
    try:
        pipeline.start()
        yield pipeline
    finally:
        pipeline.stop()
        if keep_logs():
            print(f"pipeline logs kept in {state_dir / 'logs'}")
        else:
            shutil.rmtree(state_dir, ignore_errors=True)


@dataclass
class OwnInfra:
    """Kafka and Postgres that only this run uses; restarts keep ports and data."""

    base: Path
    kafka: LocalKafka
    postgres: LocalPostgres

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap_servers

    @property
    def database_url(self) -> str:
        return self.postgres.dsn

    def restart_kafka(self, down_seconds: float = 1.0) -> float:
        """Stop the broker (SIGTERM), wait, start it on the same data dir; seconds down."""
        return _restart(self.kafka.stop, self.kafka.start, down_seconds)

    def restart_postgres(self, down_seconds: float = 1.0) -> float:
        """`pg_ctl stop -m fast` (every connection is cut), wait, start; seconds down."""
        return _restart(self.postgres.stop, self.postgres.start, down_seconds)


def _restart(stop: Callable[[], object], start: Callable[[], object], down_seconds: float) -> float:
    """Stop, wait `down_seconds`, start again; the seconds from stopping to started."""
    started = time.monotonic()
    stop()
    time.sleep(down_seconds)
    start()
    return time.monotonic() - started


@contextlib.contextmanager
def own_infra(prefix: str = "jobcast-own-") -> Iterator[OwnInfra]:
    """Start a private broker and database side by side; stop and delete them after."""
    base = scratch_dir(prefix)
    k_port, k_ctl, pg_port = distinct_free_ports(3)
    infra = OwnInfra(
        base, LocalKafka(base / "kafka", k_port, k_ctl), LocalPostgres(base / "pg", pg_port)
    )
    try:
        with ThreadPoolExecutor(2) as pool:
            kafka = pool.submit(infra.kafka.start)
            postgres = pool.submit(infra.postgres.start)
            kafka.result()
            postgres.result()
        run_async(ensure_topics(infra.bootstrap))
        yield infra
    finally:
        with contextlib.suppress(Exception):
            infra.kafka.stop()
        with contextlib.suppress(Exception):
            infra.postgres.stop()
        if keep_logs():
            print(f"own infra kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def own_stack(
    *,
    env: Mapping[str, str] = LOAD_ENV,
    sandbox_args: Sequence[str] = UNLIMITED_SANDBOX,
    prefix: str = "jobcast-own-",
) -> Iterator[tuple[OwnInfra, Pipeline]]:
    """Private Kafka + Postgres, and a pipeline on them."""
    with (
        own_infra(prefix) as infra,
        running_pipeline(
            infra.bootstrap, infra.database_url, env=env, sandbox_args=sandbox_args, prefix=prefix
        ) as pipeline,
    ):
        yield infra, pipeline

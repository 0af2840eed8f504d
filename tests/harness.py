"""What the test session runs on: real Kafka and Postgres, and the pipeline's processes.

Kafka and Postgres come from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set; else
from testcontainers when a Docker engine answers; else the project starts them itself
as local processes (the path this machine takes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from jobcast.crypto import generate_key
from jobcast.devstack.containers import docker_available, kafka_container, postgres_container
from jobcast.devstack.kafka import LocalKafka
from jobcast.devstack.ports import free_port
from jobcast.devstack.postgres import LocalPostgres
from jobcast.devstack.processes import ManagedProcess
from jobcast.kafka import ensure_topics
from jobcast_cli.stack import (
    SERVICES,
    Endpoints,
    sandbox_process,
    service_processes,
    start_services,
)


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap_servers: str
    database_url: str
    how: str


def scratch_dir(prefix: str) -> Path:
    """A short, world-traversable dir (Postgres runs as another OS user when we are root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


def distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


@contextlib.contextmanager
def real_infra() -> Iterator[Infra]:
    """Kafka + Postgres for the session, by the first route that applies."""
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    database = os.environ.get("DATABASE_URL")
    with contextlib.ExitStack() as stack:
        if kafka and database:
            how = "given"
        elif docker_available():
            kafka = kafka or stack.enter_context(kafka_container())
            database = database or stack.enter_context(postgres_container())
            how = "testcontainers"
        else:
            base = scratch_dir("jobcast-test-")
            stack.callback(shutil.rmtree, base, ignore_errors=True)
            k_port, k_ctl, pg_port = distinct_free_ports(3)
            local_kafka = LocalKafka(base / "kafka", k_port, k_ctl)
            local_pg = LocalPostgres(base / "pg", pg_port)
            # Both take seconds to start; start them side by side.
            with ThreadPoolExecutor(2) as pool:
                kafka_started = pool.submit(local_kafka.start) if not kafka else None
                pg_started = pool.submit(local_pg.start) if not database else None
                if kafka_started is not None:
                    stack.callback(local_kafka.stop)
                    kafka = kafka_started.result()
                if pg_started is not None:
                    stack.callback(local_pg.stop)
                    database = pg_started.result()
            how = "local processes"
        assert kafka
        assert database
        asyncio.run(ensure_topics(kafka))
        yield Infra(kafka, database, how)


# Test pipelines retry and confirm within seconds instead of minutes.
FAST_TIMERS = {
    "PUBLISH_RETRY_DELAYS": "[0.5, 1.0, 1.0, 1.0]",
    "PUBLISH_MAX_ATTEMPTS": "4",
    "PUBLISH_CONFIRM_DELAYS": "[0.5, 1.0, 2.0]",
    "PUBLISH_TIMER_POLL_SECONDS": "0.1",
    "PUBLISH_RATE_LIMIT_BLOCK_SECONDS": "2",
    "PUBLISH_LEASE_SECONDS": "8",
    "GRAPH_TIMEOUT_SECONDS": "2",
    "PUBLISHER_INSTAGRAM_CONTAINER_POLL_SECONDS": "0.1",
    "PUBLISHER_INSTAGRAM_CONTAINER_INLINE_WAIT_SECONDS": "0.3",
    "PUBLISHER_INSTAGRAM_CONTAINER_RESUME_AFTER_SECONDS": "0.3",
    "PUBLISHER_INSTAGRAM_QUOTA_RETRY_SECONDS": "1",
    "JOBCAST_LOG_LEVEL": "INFO",
}


@dataclass
class RunningPipeline:
    endpoints: Endpoints
    processes: dict[str, ManagedProcess]


@contextlib.contextmanager
def running_pipeline(infra: Infra) -> Iterator[RunningPipeline]:
    """The sandbox and the five services as real processes, on free ports."""
    state_dir = scratch_dir("jobcast-pipeline-")
    sandbox_port, *ports = distinct_free_ports(1 + len(SERVICES))
    sandbox = sandbox_process(state_dir, sandbox_port)
    endpoints = Endpoints(
        infra.kafka_bootstrap_servers,
        infra.database_url,
        f"http://127.0.0.1:{sandbox_port}",
        generate_key(),
        ports=dict(zip(SERVICES, ports, strict=True)),
        extra=dict(FAST_TIMERS),
    )
    services = service_processes(state_dir, endpoints)
    try:
        sandbox.start()
        sandbox.wait_ready(f"{endpoints.graph_api_url}/_sandbox/ledger")
        start_services(services, endpoints)
        yield RunningPipeline(endpoints, {p.name: p for p in [*services, sandbox]})
    finally:
        for process in [*services, sandbox]:
            process.stop()
        if os.environ.get("JOBCAST_KEEP_TEST_LOGS"):
            print(f"pipeline logs kept in {state_dir / 'logs'}")
        else:
            shutil.rmtree(state_dir, ignore_errors=True)

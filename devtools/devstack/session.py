"""Real Kafka and Postgres for a test or benchmark session.

Taken from KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when both are set; else from
testcontainers when a Docker engine answers; else started here as local processes
in a scratch dir (the path a machine without Docker takes).
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

from devtools.devstack.containers import docker_available, kafka_container, postgres_container
from devtools.devstack.kafka import LocalKafka
from devtools.devstack.ports import free_port
from devtools.devstack.postgres import LocalPostgres
from jobcast.kafka import ensure_topics


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
    """`count` different free ports (free_port alone may repeat one)."""
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

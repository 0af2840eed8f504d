"""The Docker path: Kafka and Postgres via testcontainers, for machines that have Docker.

Equivalent to :mod:`devtools.devstack.kafka` / :mod:`devtools.devstack.postgres`, which need no
Docker. testcontainers is imported lazily so the rest of jobcast never pays for it.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

from devtools.devstack.postgres import DB_NAME, DB_PASSWORD, DB_USER

KAFKA_IMAGE = "confluentinc/cp-kafka:7.6.0"
POSTGRES_IMAGE = "postgres:16-alpine"


def docker_available(timeout: float = 2.0) -> bool:
    """Return True if a Docker engine answers ``GET /_ping``; never raises.

    Talks to the socket directly (``$DOCKER_HOST`` or ``/var/run/docker.sock``) so it needs no
    docker CLI and returns at once on machines without one.
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    url = urlparse(host)
    try:
        if url.scheme == "unix":
            if not os.path.exists(url.path):
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(url.path)
        elif url.scheme == "tcp" and url.hostname and url.port:
            sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
        else:
            return False  # ssh:// or TLS setups: leave those to testcontainers itself
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(1024)
    except OSError:
        return False
    return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]


@contextmanager
def kafka_container(image: str = KAFKA_IMAGE) -> Iterator[str]:
    """Run a single-node KRaft Kafka container; yield its bootstrap servers."""
    from testcontainers.community.kafka import KafkaContainer

    # Match the local broker: topics must be created explicitly.
    container = (
        KafkaContainer(image).with_kraft().with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false")
    )
    with container as kafka:
        bootstrap: str = kafka.get_bootstrap_server()
        yield bootstrap


@contextmanager
def postgres_container(image: str = POSTGRES_IMAGE) -> Iterator[str]:
    """Run a Postgres container with role/db ``jobcast``; yield an asyncpg-ready DSN."""
    from testcontainers.community.postgres import PostgresContainer

    container = PostgresContainer(
        image, username=DB_USER, password=DB_PASSWORD, dbname=DB_NAME, driver=None
    )
    with container as pg:
        dsn: str = pg.get_connection_url()  # driver=None: plain postgresql://, as asyncpg wants
        yield dsn

"""Session fixtures: real infrastructure is started once, and only if a test needs it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devtools.stack import Endpoints
from jobcast.db import create_pool
from tests.harness import Infra, RunningPipeline, real_infra, running_pipeline


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with real_infra() as started:
        yield started


@pytest.fixture(scope="session")
def running(infra: Infra) -> Iterator[RunningPipeline]:
    with running_pipeline(infra) as started:
        yield started


@pytest.fixture(scope="session")
def pipeline(running: RunningPipeline) -> Endpoints:
    return running.endpoints


@pytest.fixture(scope="session")
async def db(infra: Infra) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(infra.database_url, max_size=5)
    yield pool
    await pool.close()


@pytest.fixture
async def admin(infra: Infra) -> AsyncIterator[AIOKafkaAdminClient]:
    """A Kafka admin client on the session's broker."""
    client = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap_servers)
    await client.start()
    yield client
    await client.close()

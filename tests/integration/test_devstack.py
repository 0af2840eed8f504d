"""The Docker-free dev stack runs a real Kafka broker and a real Postgres, and stops them."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devtools.devstack.kafka import LocalKafka
from devtools.devstack.ports import free_port, port_open
from devtools.devstack.postgres import LocalPostgres

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TOPIC = "devstack-smoke"


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    """A short, world-traversable scratch dir.

    Not pytest's tmp_path: as root the cluster runs as the `postgres` OS user, which cannot
    enter /tmp/pytest-of-root (0700); and the Postgres unix socket path must stay short.
    """
    path = Path(tempfile.mkdtemp(prefix="jobcast-devstack-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def distinct_ports(count: int) -> list[int]:
    """``count`` different free ports (free_port may hand out the same one twice)."""
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


def process_gone(pid: int) -> bool:
    """True if ``pid`` no longer runs (an unreaped zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rpartition(")")[2].split()[0] in ("Z", "X")


async def kafka_round_trip(bootstrap: str) -> None:
    """Create a topic, produce one record, consume it back with a consumer group."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
        # The broker answers the create before every metadata view has the topic.
        async with asyncio.timeout(10):
            while TOPIC not in await admin.list_topics():
                await asyncio.sleep(0.1)
    finally:
        await admin.close()

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(TOPIC, b"hello from devstack", key=b"k1")
    finally:
        await producer.stop()
    assert sent.offset == 0

    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id="devstack-smoke",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert (record.key, record.value, record.offset) == (b"k1", b"hello from devstack", 0)


async def postgres_round_trip(dsn: str) -> None:
    """Connect as the jobcast role, run a query, create and use a table."""
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("select current_user") == "jobcast"
        await conn.execute("create table smoke (id int primary key, note text not null)")
        await conn.execute("insert into smoke values ($1, $2)", 1, "ok")
        assert await conn.fetchval("select note from smoke where id = 1") == "ok"
    finally:
        await conn.close()


async def test_local_kafka_and_postgres_work_and_stop(stack_dir: Path) -> None:
    """Start both for real, use them through the project's client libraries, stop them."""
    kafka_port, controller_port, pg_port = distinct_ports(3)
    kafka = LocalKafka(stack_dir / "kafka", port=kafka_port, controller_port=controller_port)
    pg = LocalPostgres(stack_dir / "pg", port=pg_port)
    try:
        # Both starts block; running them side by side saves the Postgres second or so.
        bootstrap, dsn = await asyncio.gather(
            asyncio.to_thread(kafka.start), asyncio.to_thread(pg.start)
        )
        assert bootstrap == f"127.0.0.1:{kafka_port}"
        assert dsn == f"postgresql://jobcast:jobcast@127.0.0.1:{pg_port}/jobcast"
        kafka_pid, pg_pid = kafka.pid, pg.pid
        assert kafka_pid is not None
        assert pg_pid is not None

        await asyncio.gather(kafka_round_trip(bootstrap), postgres_round_trip(dsn))

        await asyncio.gather(asyncio.to_thread(kafka.stop), asyncio.to_thread(pg.stop))
        assert not kafka.is_running()
        assert not pg.is_running()
        assert process_gone(kafka_pid)
        assert process_gone(pg_pid)
        assert not port_open("127.0.0.1", kafka_port)
        assert not port_open("127.0.0.1", pg_port)
    finally:
        # Never leak a broker or cluster, whatever failed above (both are no-ops when stopped).
        kafka.stop()
        pg.stop()

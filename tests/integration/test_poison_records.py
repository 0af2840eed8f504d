"""One odd-but-valid record must not stall a consumer, on the real broker and Postgres.

- a batch subscriber whose handler Postgres refuses for one record (asyncpg's DataError,
  "value out of int32 range"): that record lands in `<topic>.dlq` with the reason, the
  others are handled, the group's lag returns to 0;
- a `ConcurrentConsumer` with such a record: the same, and its lane goes on;
- records with a null header value (legal in Kafka) on a `ConcurrentConsumer` topic and on
  a faststream topic: handled or dead-lettered, never a stall;
- a handler failing on infrastructure for longer than the stall time: `/readyz` answers
  503 with the reason, and 200 again once it recovers.

Every test makes its own topics, table and group, so they run in any order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY
from pydantic import BaseModel, TypeAdapter

from jobcast.kafka import (
    BatchRoute,
    ConcurrentConsumer,
    RecordMeta,
    dead_letters_for,
    make_broker,
    record_route,
    subscribe_validated_batch,
    validating,
)
from jobcast.service import add_ops_routes, subscribers_ready
from jobcast.stalls import STALLS
from jobcast.topics import dead_letter_topic
from schemas import headers as h
from tests.harness import Infra
from tests.integration.helpers import committed, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PARTITIONS = 3
TOO_BIG = 3_000_000_000  # valid JSON, valid int: Postgres' int4 refuses it
Headers = Sequence[tuple[str, bytes | None]]


class Item(BaseModel):
    n: int


@pytest.fixture
async def table(db: asyncpg.Pool) -> AsyncIterator[str]:
    """A table whose int4 column refuses TOO_BIG, like the distributor's columns did."""
    name = f"poison_{uuid.uuid4().hex[:8]}"
    await db.execute(f"CREATE TABLE {name} (n int4 PRIMARY KEY)")
    yield name
    await db.execute(f"DROP TABLE {name}")


@pytest.fixture
async def broker(infra: Infra) -> AsyncIterator[KafkaBroker]:
    started = make_broker(infra.kafka_bootstrap_servers, f"test-poison-{uuid.uuid4().hex[:6]}")
    yield started
    await started.stop()


async def new_topic(admin: AIOKafkaAdminClient, name: str) -> str:
    topic = f"test.poison.{name}.{uuid.uuid4().hex[:8]}"
    await admin.create_topics(
        [
            NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1),
            NewTopic(dead_letter_topic(topic), num_partitions=1, replication_factor=1),
        ]
    )
    return topic


async def produce(
    infra: Infra, topic: str, records: Sequence[tuple[bytes, bytes, Headers]]
) -> dict[int, int]:
    """Write (key, value, headers) in order; the end offset of each partition written."""
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    ends: dict[int, int] = {}
    try:
        for key, value, headers in records:
            meta = await producer.send_and_wait(topic, value, key=key, headers=list(headers))
            ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return ends


def item(n: int) -> bytes:
    return f'{{"n": {n}}}'.encode()


async def until(condition: Callable[[], Any], within: float, what: str) -> None:
    """Wait until `condition()` (sync or async) is truthy."""
    try:
        async with asyncio.timeout(within):
            while True:
                answer = condition()
                if asyncio.iscoroutine(answer):
                    answer = await answer
                if answer:
                    return
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def caught_up(admin: AIOKafkaAdminClient, group: str, ends: dict[int, int]) -> None:
    """The group's lag is 0: its committed offsets reached every partition's end."""

    async def done() -> bool:
        marks = await committed(admin, group)
        return all(marks.get(partition, 0) == end for partition, end in ends.items())

    await until(done, 45, f"group {group} to commit {ends}")


async def dead_letters(infra: Infra, topic: str, want: int) -> list[tuple[bytes, dict[str, str]]]:
    def pick(record: Any) -> tuple[bytes, dict[str, str]]:
        headers = {k: (v or b"").decode() for k, v in record.headers}
        return record.value, headers

    return await read_topic(
        infra.kafka_bootstrap_servers,
        dead_letter_topic(topic),
        pick,
        until=lambda found: len(found) >= want,
    )


# ----------------------------------------------------------------- (a) batch subscriber


async def test_batch_subscriber_dead_letters_the_record_postgres_refuses(
    infra: Infra,
    db: asyncpg.Pool,
    admin: AIOKafkaAdminClient,
    table: str,
    broker: KafkaBroker,
) -> None:
    topic = await new_topic(admin, "batch")
    values = [*range(17), TOO_BIG, *range(17, 40)]
    ends = await produce(infra, topic, [(f"job-{n % 5}".encode(), item(n), ()) for n in values])

    async def handle(batch: list[tuple[Item, RecordMeta]]) -> None:
        # Set-based and idempotent, like the distributor's and the metrics' handlers.
        await db.execute(
            f"INSERT INTO {table} SELECT unnest($1::int4[]) ON CONFLICT DO NOTHING",
            [event.n for event, _ in batch],
        )

    group = f"g-{uuid.uuid4().hex[:8]}"
    subscribe_validated_batch(
        broker, group, [BatchRoute(topic, TypeAdapter(Item), handle)], max_records=100
    )
    await broker.start()
    await caught_up(admin, group, ends)

    [(value, headers)] = await dead_letters(infra, topic, 1)
    assert value == item(TOO_BIG)
    assert headers[h.DLQ_KIND] == "handler_failed"
    assert headers[h.DLQ_REASON].startswith("DataError: invalid input for query argument $1")
    assert "int32" in headers[h.DLQ_REASON]
    assert headers[h.DLQ_GROUP] == group
    stored = {row["n"] for row in await db.fetch(f"SELECT n FROM {table}")}
    assert stored == set(range(40))  # every other record was handled


# ----------------------------------------------------------------- (b) ConcurrentConsumer


async def test_concurrent_consumer_parks_the_poison_record_and_its_lane_goes_on(
    infra: Infra,
    db: asyncpg.Pool,
    admin: AIOKafkaAdminClient,
    table: str,
    broker: KafkaBroker,
) -> None:
    topic = await new_topic(admin, "lanes")
    values = [1, 2, TOO_BIG, 3, 4, 5]
    # One key: one lane, so everything after the poison record waits for it (or did).
    ends = await produce(infra, topic, [(b"one-account", item(n), ()) for n in values])
    handled: list[int] = []

    async def handle(event: Item, meta: RecordMeta) -> None:
        await db.execute(f"INSERT INTO {table} VALUES ($1) ON CONFLICT DO NOTHING", event.n)
        handled.append(event.n)

    group = f"g-{uuid.uuid4().hex[:8]}"
    await broker.start()  # for the dead letters
    consumer = ConcurrentConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        topics=[topic],
        group_id=group,
        handle=validating(broker, group, TypeAdapter(Item), handle),
        commit_interval_s=0.1,
        on_poison=dead_letters_for(broker, group),
    )
    await consumer.start()
    try:
        await caught_up(admin, group, ends)
    finally:
        await consumer.stop()

    assert handled == [1, 2, 3, 4, 5]  # the same lane, in order, past the poison record
    [(value, headers)] = await dead_letters(infra, topic, 1)
    assert value == item(TOO_BIG)
    assert headers[h.DLQ_KIND] == "handler_failed"
    assert "int32" in headers[h.DLQ_REASON]


# ----------------------------------------------------------------- (c) null header values

# A valid record, an invalid one, and one its handler cannot take: each with a null header
# value, a repeated key and bytes that are not UTF-8.
ODD_HEADERS: Headers = [
    (h.CORRELATION_ID, None),
    ("x-binary", b"\xff\xfe"),
    (h.CORRELATION_ID, b"corr-odd"),
    ("x-null", None),
]


def odd_records() -> list[tuple[bytes, bytes, Headers]]:
    return [
        (b"k", item(1), ODD_HEADERS),
        (b"k", b'{"n": "not a number"}', ODD_HEADERS),
        (b"k", item(TOO_BIG), ODD_HEADERS),
        (b"k", item(2), ()),
    ]


async def test_null_header_values_never_stall_either_kind_of_consumer(
    infra: Infra, admin: AIOKafkaAdminClient, broker: KafkaBroker
) -> None:
    concurrent_topic = await new_topic(admin, "null-cc")
    faststream_topic = await new_topic(admin, "null-fs")
    concurrent_ends = await produce(infra, concurrent_topic, odd_records())
    faststream_ends = await produce(infra, faststream_topic, odd_records())
    handled: dict[str, list[tuple[int, str | None]]] = {"cc": [], "fs": []}

    def handler(kind: str) -> Callable[[Item, RecordMeta], Any]:
        async def handle(event: Item, meta: RecordMeta) -> None:
            if event.n > 2**31:
                raise asyncpg.DataError(
                    "invalid input for query argument $1: 3000000000 (value out of int32 range)"
                )
            handled[kind].append((event.n, meta.correlation_id))

        return handle

    fs_group, cc_group = f"g-fs-{uuid.uuid4().hex[:8]}", f"g-cc-{uuid.uuid4().hex[:8]}"
    subscribe_validated_batch(
        broker,
        fs_group,
        [record_route(faststream_topic, TypeAdapter(Item), handler("fs"))],
    )
    await broker.start()
    consumer = ConcurrentConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        topics=[concurrent_topic],
        group_id=cc_group,
        handle=validating(broker, cc_group, TypeAdapter(Item), handler("cc")),
        commit_interval_s=0.1,
        on_poison=dead_letters_for(broker, cc_group),
    )
    await consumer.start()
    try:
        await caught_up(admin, cc_group, concurrent_ends)
        await caught_up(admin, fs_group, faststream_ends)
    finally:
        await consumer.stop()

    assert handled == {"cc": [(1, "corr-odd"), (2, None)], "fs": [(1, "corr-odd"), (2, None)]}
    for topic in (concurrent_topic, faststream_topic):
        letters = await dead_letters(infra, topic, 2)
        assert sorted(headers[h.DLQ_KIND] for _, headers in letters) == [
            "handler_failed",
            "invalid",
        ]
        for _, headers in letters:
            assert headers["x-null"] == ""  # copied, as empty
            assert headers["x-binary"] == "\ufffd\ufffd"
            assert headers[h.CORRELATION_ID] == "corr-odd"


# ----------------------------------------------------------------- (d) readiness


async def test_readiness_fails_while_a_handler_keeps_failing_and_recovers(
    infra: Infra,
    admin: AIOKafkaAdminClient,
    broker: KafkaBroker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jobcast.kafka.subscribe as wiring

    monkeypatch.setattr(STALLS, "stall_seconds", 2.0)
    monkeypatch.setattr(wiring, "_RETRY_DELAYS", (0.2, 0.2))  # redelivered every ~0.5 s
    topic = await new_topic(admin, "stall")
    ends = await produce(infra, topic, [(b"k", item(1), ())])
    database_up = asyncio.Event()
    handled: list[int] = []

    async def handle(event: Item, meta: RecordMeta) -> None:
        if not database_up.is_set():
            raise ConnectionRefusedError(111, "Connection refused")
        handled.append(event.n)

    group = f"g-{uuid.uuid4().hex[:8]}"
    subscribe_validated_batch(broker, group, [record_route(topic, TypeAdapter(Item), handle)])
    app = FastAPI()
    add_ops_routes(app, {"consumers": subscribers_ready(broker)})
    await broker.start()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:

        async def readyz() -> httpx.Response:
            return await http.get("/readyz")

        async def not_ready() -> bool:
            return (await readyz()).status_code == 503

        await until(not_ready, 30, "/readyz to answer 503")
        body = (await readyz()).json()
        assert body["failed"] == ["stalls"]
        [stall] = [s for s in body["reasons"]["stalls"] if s["group"] == group]
        assert stall["topic"] == topic
        assert stall["error"] == "ConnectionRefusedError"
        assert stall["seconds"] >= 2
        assert "since" in stall
        labels = {"group": group, "topic": topic}
        assert REGISTRY.get_sample_value("jobcast_consumer_stalled", labels) == 1
        assert handled == []  # waited for, not skipped

        database_up.set()

        async def ready() -> bool:
            return (await readyz()).status_code == 200

        await until(ready, 30, "/readyz to answer 200 again")
        assert REGISTRY.get_sample_value("jobcast_consumer_stalled", labels) == 0
    await caught_up(admin, group, ends)
    assert handled == [1]

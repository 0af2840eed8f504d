"""A faststream subscriber's offsets on the real broker: committed once an interval, not
once a poll, yet nothing handled is redelivered after a clean stop or a rebalance."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, TypeAdapter

from jobcast.kafka import BatchRoute, RecordMeta, commits, subscribe_validated_batch
from tests.harness import Infra
from tests.integration.helpers import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


class Ping(BaseModel):
    n: int


def subscriber(
    infra: Infra, topic: str, group: str, seen: list[tuple[str, int]], name: str
) -> KafkaBroker:
    async def handle(batch: list[tuple[Ping, RecordMeta]]) -> None:
        seen.extend((name, ping.n) for ping, _ in batch)

    broker = KafkaBroker(infra.kafka_bootstrap_servers)
    subscribe_validated_batch(broker, group, [BatchRoute(topic, TypeAdapter(Ping), handle)])
    return broker


async def committed(admin: AIOKafkaAdminClient, group: str) -> dict[TopicPartition, int]:
    offsets = await admin.list_consumer_group_offsets(group)
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


@pytest.fixture
async def producer(infra: Infra) -> AsyncIterator[AIOKafkaProducer]:
    started = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await started.start()
    yield started
    await started.stop()


async def new_topic(admin: AIOKafkaAdminClient, partitions: int) -> str:
    topic = f"test.commits.{uuid.uuid4().hex[:8]}"
    await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    return topic


async def test_a_trickle_commits_once_an_interval_and_a_clean_stop_commits_the_rest(
    infra: Infra,
    admin: AIOKafkaAdminClient,
    producer: AIOKafkaProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    commit = AIOKafkaConsumer.commit

    async def counted(self: AIOKafkaConsumer, offsets: object = None) -> None:
        nonlocal calls
        calls += 1
        await commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    monkeypatch.setattr(commits, "COMMIT_INTERVAL_S", 60.0)  # only the stop commits
    topic = await new_topic(admin, 1)
    group = f"g-{uuid.uuid4().hex[:8]}"
    seen: list[tuple[str, int]] = []
    broker = subscriber(infra, topic, group, seen, "first")
    await broker.start()
    try:
        for n in range(20):  # one poll each: a trickle
            await producer.send_and_wait(topic, f'{{"n": {n}}}'.encode())
            await wait_until(lambda: ("first", n) in seen, 20, f"record {n}")  # noqa: B023
        assert calls == 0
        assert await committed(admin, group) == {}
        await broker.stop()
        assert calls == 1
        assert await committed(admin, group) == {TopicPartition(topic, 0): 20}
        again = subscriber(infra, topic, group, seen, "again")
        await again.start()
        await producer.send_and_wait(topic, b'{"n": 20}')
        await wait_until(lambda: ("again", 20) in seen, 30, "the record after the restart")
        await again.stop()
    finally:
        await broker.stop()
    assert [n for who, n in seen if who == "again"] == [20]  # nothing handled came back


async def test_partitions_given_up_in_a_rebalance_are_committed_first(
    infra: Infra,
    admin: AIOKafkaAdminClient,
    producer: AIOKafkaProducer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(commits, "COMMIT_INTERVAL_S", 600.0)  # no commit but the revoke's
    topic = await new_topic(admin, 4)
    group = f"g-{uuid.uuid4().hex[:8]}"
    seen: list[tuple[str, int]] = []
    first = subscriber(infra, topic, group, seen, "first")
    await first.start()
    second = subscriber(infra, topic, group, seen, "second")
    try:
        for n in range(40):
            await producer.send(topic, f'{{"n": {n}}}'.encode(), partition=n % 4)
        await producer.flush()
        await wait_until(lambda: len(seen) == 40, 30, "the first member handling all")
        await second.start()  # a rebalance: some partitions move to it
        [member] = second.subscribers

        def moved() -> bool:
            consumer: Any = getattr(member, "consumer", None)
            return consumer is not None and bool(consumer.assignment())

        await wait_until(moved, 60, "the second member's partitions")
        for n in range(40, 48):
            await producer.send(topic, f'{{"n": {n}}}'.encode(), partition=n % 4)
        await producer.flush()
        await wait_until(lambda: len({n for _, n in seen}) == 48, 30, "the records after it")
    finally:
        await second.stop()
        await first.stop()
    handled = [n for _, n in seen]
    assert sorted(handled) == list(range(48))  # each once: none redelivered to the second
    assert any(who == "second" for who, _ in seen)

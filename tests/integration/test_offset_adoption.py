"""A topic moving into a service's shared consumer group starts where its former group
stopped, against the real broker: adopted where the group has no offset, kept where it has
one, and refused (without harm) while the group has members."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from jobcast.kafka.adoption import FormerGroup, adopt_offsets
from tests.harness import Infra
from tests.integration.helpers import committed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def commit(infra: Infra, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def new_topic(admin: AIOKafkaAdminClient, partitions: int = 3) -> str:
    topic = f"test.adoption.{uuid.uuid4().hex[:8]}"
    await admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    return topic


async def test_a_topic_joins_the_shared_group_where_its_former_group_stopped(
    infra: Infra, admin: AIOKafkaAdminClient
) -> None:
    moved, other, own = await new_topic(admin), await new_topic(admin), await new_topic(admin)
    group, former = f"svc-{uuid.uuid4().hex[:8]}", f"svc-op-{uuid.uuid4().hex[:8]}"
    # The shared group consumed its own topic, and one partition of the moved topic already.
    await commit(infra, group, {TopicPartition(own, 0): 7, TopicPartition(moved, 2): 40})
    await commit(
        infra, former,
        {TopicPartition(moved, 0): 5, TopicPartition(moved, 1): 9, TopicPartition(moved, 2): 11,
         TopicPartition(other, 0): 3},
    )  # fmt: skip
    adopted = await adopt_offsets(
        infra.kafka_bootstrap_servers, group, [FormerGroup(moved, former)]
    )
    assert adopted == {TopicPartition(moved, 0): 5, TopicPartition(moved, 1): 9}
    offsets = await admin.list_consumer_group_offsets(group)
    found = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    # The moved topic from where its group stopped, but the partition the shared group had
    # consumed keeps its own offset; a topic of the former group that did not move stays.
    assert found == {
        TopicPartition(own, 0): 7,
        TopicPartition(moved, 0): 5,
        TopicPartition(moved, 1): 9,
        TopicPartition(moved, 2): 40,
    }
    # Run again (the next start): nothing left to adopt.
    assert (
        await adopt_offsets(infra.kafka_bootstrap_servers, group, [FormerGroup(moved, former)])
        == {}
    )


async def test_no_former_group_means_nothing_to_adopt(
    infra: Infra, admin: AIOKafkaAdminClient
) -> None:
    moved = await new_topic(admin)
    group = f"svc-{uuid.uuid4().hex[:8]}"
    former = FormerGroup(moved, f"never-{uuid.uuid4().hex[:8]}")
    assert await adopt_offsets(infra.kafka_bootstrap_servers, group, [former]) == {}
    assert await committed(admin, group) == {}


async def test_a_group_with_members_is_left_alone(infra: Infra, admin: AIOKafkaAdminClient) -> None:
    moved = await new_topic(admin, partitions=1)
    group, former = f"svc-{uuid.uuid4().hex[:8]}", f"svc-op-{uuid.uuid4().hex[:8]}"
    await commit(infra, former, {TopicPartition(moved, 0): 4})
    member = AIOKafkaConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    member.subscribe([await new_topic(admin, partitions=1)])
    await member.start()
    try:
        await member.getmany(timeout_ms=2000)  # joined, with an assignment
        # Another instance is consuming already: its adoption happened before it joined.
        refused = await adopt_offsets(
            infra.kafka_bootstrap_servers, group, [FormerGroup(moved, former)]
        )
    finally:
        await member.stop()
    assert refused == {}
    offsets = await admin.list_consumer_group_offsets(group)
    assert TopicPartition(moved, 0) not in {tp for tp, m in offsets.items() if m.offset >= 0}

"""Offsets from the broker's point of view: log ends, groups, consumer lag."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition


async def log_ends(bootstrap: str, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
    """The end offset (next offset to be written) of each partition."""
    tps = list(tps)
    if not tps:
        return {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def groups(bootstrap: str) -> list[str]:
    """Every consumer group the broker knows (readers with fresh test groups included)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        listed = await admin.list_consumer_groups()
    finally:
        await admin.close()
    return sorted(str(g[0]) for g in listed)


async def committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def lag(bootstrap: str, group_names: Iterable[str]) -> dict[str, int]:
    """Records behind per group: Σ (log end − committed) over the partitions it committed."""
    behind: dict[str, int] = {}
    for group in group_names:
        offsets = await committed(bootstrap, group)
        ends = await log_ends(bootstrap, offsets)
        behind[group] = sum(max(0, ends[tp] - offset) for tp, offset in offsets.items())
    return behind

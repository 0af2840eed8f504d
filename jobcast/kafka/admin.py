"""Topics: create what is missing, list a topic's partitions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.structs import TopicPartition

from jobcast.topics import ALL_TOPICS, TopicSpec


async def ensure_topics(bootstrap_servers: str, specs: Iterable[TopicSpec] = ALL_TOPICS) -> None:
    """Create every topic that does not exist yet (idempotent, safe to race)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=s.name, num_partitions=s.partitions, replication_factor=1)
            for s in specs
            if s.name not in existing
        ]
        if missing:
            # Another service may create them between our list and create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
    finally:
        await admin.close()


async def topic_partitions(bootstrap_servers: str, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of `topics`, in order; ValueError naming a topic that does not exist."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = []
    for topic in described:
        if topic["error_code"] or not topic["partitions"]:
            raise ValueError(f"no topic {topic['topic']!r} on {bootstrap_servers}")
        numbers = sorted(p["partition"] for p in topic["partitions"])
        partitions += [TopicPartition(topic["topic"], n) for n in numbers]
    return partitions

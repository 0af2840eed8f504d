"""A topic moving from one consumer group to another carries its committed offsets along.

A service consumes all its topics in one group (one consumer, one fetch). Topics it read in
groups of their own before start the shared group where those groups stopped, not at the
earliest record: a new group re-reading its topics from the start would repeat old operator
retries and webhooks. Done before the consumer joins; a partition the group has an offset
for already (adopted earlier, or consumed since) keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata, TopicPartition

from jobcast.kafka.retry import DEFAULT_RETRY_DELAYS, call_until_success

log = logging.getLogger(__name__)

_TRIES = 20  # with DEFAULT_RETRY_DELAYS: about 80 s


@dataclass(frozen=True, slots=True)
class FormerGroup:
    """The group that consumed `topic` before it joined a service's shared group."""

    topic: str
    group_id: str


async def adopt_offsets(
    bootstrap_servers: str, group_id: str, former: Sequence[FormerGroup]
) -> dict[TopicPartition, int]:
    """Give `group_id` each former group's committed offsets on its topic, where it has
    none of its own; returns what was adopted (empty when nothing was left to adopt, or
    the group is in use already)."""
    if not former:
        return {}
    adopted: dict[TopicPartition, int] = {}

    async def adopt() -> None:
        adopted.clear()
        found = await _to_adopt(bootstrap_servers, group_id, former)
        if found and await _commit(bootstrap_servers, group_id, found):
            adopted.update(found)

    def on_failure(attempt: int, delay: float) -> None:
        log.warning(
            "former groups' offsets not adopted yet; trying again",
            extra={"group": group_id, "attempt": attempt, "retry_in_s": delay},
        )

    # A broker just started has no group coordinator for a moment (its offsets topic is
    # being made): a retriable answer, waited out, never a reason to start without them.
    await call_until_success(
        adopt, DEFAULT_RETRY_DELAYS, on_failure=on_failure, retry_if=_retriable, attempts=_TRIES
    )
    return adopted


def _retriable(exc: Exception) -> bool:
    return isinstance(exc, KafkaError) and bool(getattr(exc, "retriable", False))


async def _to_adopt(
    bootstrap_servers: str, group_id: str, former: Sequence[FormerGroup]
) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        ours = await admin.list_consumer_group_offsets(group_id)
        adopted: dict[TopicPartition, int] = {}
        for group in former:
            theirs = await admin.list_consumer_group_offsets(group.group_id)
            for tp, meta in theirs.items():
                own = ours.get(tp)
                if tp.topic == group.topic and meta.offset >= 0 and (own is None or own.offset < 0):
                    adopted[tp] = meta.offset
    finally:
        await admin.close()
    return adopted


async def _commit(
    bootstrap_servers: str, group_id: str, offsets: dict[TopicPartition, int]
) -> bool:
    # A manually assigned consumer commits as a "simple" member: Kafka takes it only while
    # the group has no members. One that has some was started by another instance, which
    # adopted the offsets before it joined.
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
        log.info(
            "adopted the offsets of former groups",
            extra={"group": group_id, "partitions": len(offsets)},
        )
        return True
    except KafkaError as exc:
        if _retriable(exc):
            raise
        log.warning(
            "could not adopt former groups' offsets: the group is in use already",
            extra={"group": group_id, "error": repr(exc)},
        )
        return False
    finally:
        await consumer.stop()

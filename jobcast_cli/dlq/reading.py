"""Reading dead-letter topics: a plain consumer (no group, nothing committed) assigned to
the partitions and sought to where the selection starts, reading up to the end offsets
it saw when it began, within a time bound. Topics that do not exist read as empty."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition

from jobcast_cli.dlq.records import DLQ_SUFFIX, DeadLetter, DeadLetterId, Selection

READ_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Found:
    """Dead letters read, the DLQ topics asked for that do not exist, and whether the time
    bound ran out before every partition was read to its end."""

    letters: list[DeadLetter]
    missing_topics: list[str]
    complete: bool


async def partition_counts(bootstrap: str, topics: Iterable[str] | None) -> dict[str, int]:
    """How many partitions each of `topics` has (None: every `*.dlq` topic); topics that
    do not exist are left out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        if topics is None:
            present = sorted(t for t in existing if t.endswith(DLQ_SUFFIX))
        else:
            present = sorted(set(topics) & existing)
        described = await admin.describe_topics(present) if present else []
    finally:
        await admin.close()
    return {
        str(t["topic"]): len(t["partitions"])
        for t in described
        if not t["error_code"] and t["partitions"]
    }


async def dlq_partitions(
    bootstrap: str, topics: list[str] | None
) -> tuple[list[TopicPartition], list[str]]:
    """The partitions of `topics` (None: of every `*.dlq` topic) and the named ones that
    do not exist."""
    counts = await partition_counts(bootstrap, topics)
    partitions = [TopicPartition(t, n) for t in sorted(counts) for n in range(counts[t])]
    return partitions, [t for t in topics or () if t not in counts]


async def read_dead_letters(
    bootstrap: str,
    topics: list[str] | None,
    selection: Selection,
    *,
    newest: int | None = None,
    keep_values: bool = True,
    read_seconds: float = READ_SECONDS,
) -> Found:
    """The dead letters of `topics` (None: all) that `selection` matches.

    `newest`: only the last `newest` records of each partition can matter (the caller
    wants the newest N and filters on nothing but time), so reading starts there.
    """
    if selection.ids:
        topics = sorted({i.topic for i in selection.ids})
    partitions, missing = await dlq_partitions(bootstrap, topics)
    if selection.ids:
        named = {(i.topic, i.partition) for i in selection.ids}
        partitions = [tp for tp in partitions if (tp.topic, tp.partition) in named]
    if not partitions:
        return Found([], missing, complete=True)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        client_id="jobcast-cli-dlq",
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = dict(await consumer.end_offsets(partitions))
        starts = await _start_offsets(consumer, partitions, ends, selection, newest)
        letters, complete = await _read_to_ends(
            consumer, starts, ends, selection, keep_values=keep_values, seconds=read_seconds
        )
    finally:
        await consumer.stop()
    return Found(letters, missing, complete)


async def _start_offsets(
    consumer: AIOKafkaConsumer,
    partitions: list[TopicPartition],
    ends: dict[TopicPartition, int],
    selection: Selection,
    newest: int | None,
) -> dict[TopicPartition, int]:
    starts = dict(await consumer.beginning_offsets(partitions))
    if selection.ids:
        for tp in partitions:
            wanted = [i.offset for i in selection.ids if (i.topic, i.partition) == tp]
            starts[tp] = max(starts[tp], min(wanted))
    if selection.since is not None:
        stamp = int(selection.since.timestamp() * 1000)
        found = await consumer.offsets_for_times(dict.fromkeys(partitions, stamp))
        for tp in partitions:
            at = found.get(tp)
            starts[tp] = max(starts[tp], ends[tp] if at is None else at.offset)
    if newest is not None:
        for tp in partitions:
            starts[tp] = max(starts[tp], ends[tp] - newest)
    return starts


async def _read_to_ends(
    consumer: AIOKafkaConsumer,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
    selection: Selection,
    *,
    keep_values: bool,
    seconds: float,
) -> tuple[list[DeadLetter], bool]:
    left = {tp for tp in starts if starts[tp] < ends[tp]}
    for tp in left:
        consumer.seek(tp, starts[tp])
    for tp in set(starts) - left:
        consumer.pause(tp)
    letters: list[DeadLetter] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while left and loop.time() < deadline:
        batches = await consumer.getmany(*left, timeout_ms=200)
        for tp, records in batches.items():
            for record in records:
                if record.offset >= ends[tp]:
                    break
                letter = DeadLetter.from_record(record, keep_value=keep_values)
                if selection.matches(letter):
                    letters.append(letter)
        for tp in list(left):
            # The position, not the last offset: the end may be a transaction marker.
            if await consumer.position(tp) >= ends[tp] or _all_named_read(selection, tp, letters):
                left.discard(tp)
                consumer.pause(tp)
    return letters, not left


def _all_named_read(selection: Selection, tp: TopicPartition, letters: list[DeadLetter]) -> bool:
    """With ids named, a partition is done once the last of its named offsets was read."""
    if not selection.ids:
        return False
    wanted = max(i.offset for i in selection.ids if (i.topic, i.partition) == tp)
    return any(d.id == DeadLetterId(tp.topic, tp.partition, wanted) for d in letters)

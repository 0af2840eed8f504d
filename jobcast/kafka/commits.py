"""When a faststream subscriber of ours commits the offsets of the polls it handled.

faststream commits after every handled poll: under a trickle that is a commit per record on
every hop, a round trip whose cost the broker and the client pay per event. Handled offsets
are committed at most every `COMMIT_INTERVAL_S` instead, as `ConcurrentConsumer` does, and
before the consumer stops or gives up partitions. Only offsets of handled polls are ever
committed, so a crash means at most that interval's records again (handlers are idempotent
for redeliveries anyway), never loss.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 0.5
# A commit that does not finish by then is retried with the next one.
_COMMIT_TIMEOUT_S = 15.0


class PollCommits:
    """The handled-but-uncommitted offsets of one consumer, and when to commit them."""

    def __init__(
        self,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval_s = COMMIT_INTERVAL_S if interval_s is None else interval_s
        self._clock = clock
        self._due: dict[TopicPartition, int] = {}
        self._last = clock()
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None

    @property
    def due(self) -> dict[TopicPartition, int]:
        return dict(self._due)

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        return self._consumer

    def attach(self, consumer: AIOKafkaConsumer) -> None:
        """Commit what is due before `consumer` stops (faststream stops it once the handler
        in hand is done, so nothing handled waits for a redelivery after a clean stop)."""
        self._consumer = consumer
        stop = consumer.stop

        async def stop_after_commit() -> None:
            await self.commit()
            await stop()

        consumer.stop = stop_after_commit

    async def handled(self, records: Iterable[Any]) -> None:
        """A poll's records were handled: their offsets are due, committed if it is time."""
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            self._due[tp] = max(self._due.get(tp, 0), record.offset + 1)
        await self.commit_if_time()

    async def commit_if_time(self) -> None:
        if self._due and self._clock() - self._last >= self._interval_s:
            await self.commit()

    async def commit(self, only: Collection[TopicPartition] | None = None) -> None:
        """Commit the due offsets (of `only`'s partitions); a failure keeps them due."""
        consumer = self._consumer
        if consumer is None:
            return
        async with self._lock:
            # A handler that finished after its partition was given up leaves an offset
            # that is not ours to commit (and would fail every commit it went into).
            assigned = consumer.assignment()
            for tp in [tp for tp in self._due if tp not in assigned]:
                del self._due[tp]
            offsets = {tp: o for tp, o in self._due.items() if only is None or tp in only}
            if not offsets:
                return
            self._last = self._clock()
            try:
                async with asyncio.timeout(_COMMIT_TIMEOUT_S):
                    await consumer.commit(offsets)
            except (KafkaError, TimeoutError) as exc:
                log.warning("offset commit failed", extra={"error": repr(exc)})
                if only is not None:  # partitions going away: the next owner redelivers
                    self._forget(offsets)
                return
            self._forget(offsets)

    def _forget(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, offset in offsets.items():
            if self._due.get(tp) == offset:
                del self._due[tp]


class CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits a consumer's due offsets of the partitions it is about to give up."""

    def __init__(self, commits: PollCommits) -> None:
        self._commits = commits

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._commits.commit(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        pass


class PollAck:
    """What faststream's message acks and rewinds through (its `consumer`): an ack marks
    the poll's offsets due instead of committing every one at once."""

    def __init__(self, commits: PollCommits, consumer: Any, records: tuple[Any, ...]) -> None:
        self._commits = commits
        self._consumer = consumer
        self._records = records

    async def commit(self) -> None:
        await self._commits.handled(self._records)

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self._consumer.seek(partition, offset)

"""Every record jobcast writes goes out here: one event through the broker
(`publish_event`, and the dead letters through `publish_record`), or many at once, in
order, through an `OrderedProducer` (`EventBatches` gathers single events of many
concurrent callers into its batches). Both are idempotent producers with the same
partitioner and the same chain headers, and count what they wrote the same way."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaProducer
from faststream.kafka import KafkaBroker
from pydantic import BaseModel

from jobcast import metrics
from jobcast.batching import MicroBatcher
from jobcast.kafka.partitioner import CachedKeyPartitioner
from schemas import headers as h

_LINGER_MS = 5


def _producer_settings(
    client_id: str, partitioner: CachedKeyPartitioner, linger_ms: int = _LINGER_MS
) -> dict[str, Any]:
    """What every producer of ours is: idempotent (acks=all, no duplicate on a producer
    retry, each partition's order kept), placing keys as the Java client does."""
    return {
        "client_id": client_id,
        "enable_idempotence": True,
        "linger_ms": linger_ms,
        # aiokafka's hashes every key in Python, again for each record.
        "partitioner": partitioner,
    }


def make_broker(bootstrap_servers: str, client_id: str) -> KafkaBroker:
    """The faststream broker a service consumes with and publishes single events through."""
    return KafkaBroker(
        bootstrap_servers,
        **_producer_settings(client_id, CachedKeyPartitioner()),
        logger=logging.getLogger(f"faststream.{client_id}"),
        log_level=logging.DEBUG,
    )


def event_headers(
    correlation_id: str | None, causation_id: str | None, event_type: str | None
) -> dict[str, str]:
    """The chain headers every produced event carries (absent values are left out)."""
    headers = {}
    if correlation_id:
        headers[h.CORRELATION_ID] = correlation_id
    if causation_id:
        headers[h.CAUSATION_ID] = causation_id
    if event_type:
        headers[h.EVENT_TYPE] = event_type
    return headers


class JsonEvent(Protocol):
    """What `OrderedProducer` can send: a contract model, or an event its producer has
    already rendered as the same JSON (to avoid serializing one payload twice)."""

    def model_dump_json(self) -> str: ...


@dataclass(frozen=True, slots=True)
class RenderedEvent:
    """A contract event already rendered as its JSON (see `JsonEvent`)."""

    json: str

    def model_dump_json(self) -> str:
        return self.json


@dataclass(frozen=True, slots=True)
class OutgoingEvent:
    topic: str
    key: str
    event: JsonEvent
    correlation_id: str | None = None
    causation_id: str | None = None
    event_type: str | None = None


async def publish_record(
    broker: KafkaBroker,
    topic: str,
    value: bytes,
    *,
    key: bytes | None,
    headers: dict[str, str],
) -> None:
    """Write one record through the broker's producer and wait until the broker has it."""
    try:
        await broker.publish(value, topic=topic, key=key, headers=headers)
    except Exception:
        metrics.PRODUCE_FAILURES.labels(topic=topic).inc()
        raise
    metrics.count_produced(topic)


async def publish_event(
    broker: KafkaBroker,
    topic: str,
    event: JsonEvent,
    *,
    key: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    event_type: str | None = None,
) -> None:
    """Write one contract event as JSON and wait until the broker has it."""
    headers = event_headers(correlation_id, causation_id, event_type)
    await publish_record(
        broker, topic, event.model_dump_json().encode(), key=key.encode(), headers=headers
    )


async def publish_first_event(
    broker: KafkaBroker, topic: str, event: BaseModel, *, key: str
) -> None:
    """Publish an event that starts a chain: its own id becomes the correlation id."""
    event_id, event_type = getattr(event, "event_id", None), getattr(event, "event_type", None)
    assert event_id is not None, "a first event carries an event_id"
    await publish_event(
        broker, topic, event, key=key, correlation_id=str(event_id), event_type=event_type
    )


class OrderedProducer:
    """Produces many events at once, each partition in the order given, and waits for all.

    faststream's `publish` waits for each record's acknowledgement before the next one can
    be sent in order, which caps a sender at one record per broker round trip. Here the
    records of one `enqueue` are appended, per partition and in order, to batches of our
    own, which go to aiokafka whole (closed: sent at once, no linger); then all
    acknowledgements are awaited. The idempotent producer keeps each partition's order
    across retries. aiokafka's per-record `send` costs more CPU a record than appending
    to a batch.
    """

    def __init__(
        self, bootstrap_servers: str, client_id: str, *, linger_ms: int = _LINGER_MS
    ) -> None:
        # `linger_ms` only matters for records too large for our batches, which go through
        # aiokafka's `send` (and its size checks) one by one.
        self._partitioner = CachedKeyPartitioner()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            max_batch_size=_BATCH_BYTES,
            **_producer_settings(client_id, self._partitioner, linger_ms),
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_all(self, events: Iterable[OutgoingEvent]) -> None:
        """Return once the broker has every event (raises if any could not be written)."""
        await self.wait(await self.enqueue(events))

    async def enqueue(
        self, events: Iterable[OutgoingEvent], pending: PendingSends | None = None
    ) -> PendingSends:
        """Hand `events` to the producer in order, without waiting for the broker; `wait`
        for them later. Lets a caller produce while it still works on what comes next."""
        pending = PendingSends() if pending is None else pending
        batches: dict[tuple[str, int], _Batch] = {}
        partitions: dict[str, list[int]] = {}
        first = len(pending.topics)
        try:
            for out in events:
                headers = event_headers(out.correlation_id, out.causation_id, out.event_type)
                record = _Record(
                    out.key.encode(),
                    out.event.model_dump_json().encode(),
                    [(k, v.encode()) for k, v in headers.items()],
                )
                if len(record.value) > _LARGE_RECORD_BYTES:
                    # aiokafka's own path, with its size checks; what came before goes first.
                    await self._submit(batches, pending)
                    ack = await self._producer.send(
                        out.topic, record.value, key=record.key, headers=record.headers
                    )
                    pending.add(ack, out.topic, 1)
                    continue
                numbers = partitions.get(out.topic)
                if numbers is None:
                    numbers = sorted(await self._producer.partitions_for(out.topic))
                    partitions[out.topic] = numbers
                tp = (out.topic, self._partitioner(record.key, numbers, numbers))
                batch = batches.get(tp)
                if batch is None:
                    batch = batches[tp] = _Batch(self._producer.create_batch())
                if not batch.add(record):  # full: it goes, the record starts the next one
                    await self._submit({tp: batch}, pending)
                    batch = batches[tp] = _Batch(self._producer.create_batch())
                    batch.add(record)  # an empty batch takes any record
            await self._submit(batches, pending)
        finally:
            # Per topic, not per record: a metric's label lookup costs more than a send.
            handed: collections.Counter[str] = collections.Counter()
            sent = zip(pending.topics[first:], pending.records[first:], strict=True)
            for topic, records in sent:
                handed[topic] += records
            for topic, records in handed.items():
                metrics.count_produced(topic, records)
        return pending

    async def _submit(self, batches: dict[tuple[str, int], _Batch], pending: PendingSends) -> None:
        for (topic, partition), batch in batches.items():
            batch.builder.close()  # closed: sent without lingering, nothing more added
            ack = await self._producer.send_batch(batch.builder, topic, partition=partition)
            pending.add(ack, topic, batch.records)
        batches.clear()

    async def wait(self, pending: PendingSends) -> None:
        """Return once the broker has every event of `pending` (raises as `send_all`)."""
        if pending.acks:
            outcomes = await asyncio.gather(*pending.acks, return_exceptions=True)
            failed = [
                (topic, records, outcome)
                for topic, records, outcome in zip(
                    pending.topics, pending.records, outcomes, strict=True
                )
                if isinstance(outcome, BaseException)
            ]
            for topic, records, _ in failed:
                metrics.PRODUCE_FAILURES.labels(topic=topic).inc(records)
            if failed:
                raise failed[0][2]


class EventBatches:
    """Single events from many concurrent callers, produced together through an
    `OrderedProducer`: `send` returns once the broker has its event, and the events sent
    while a batch is on its way go in the next one (`jobcast.batching.MicroBatcher`: a
    lone event waits for no one; `linger_seconds` only under load).

    For a hot path of one event per record, such as a publisher's results: through the
    broker, each event costs faststream's publish and aiokafka's per-record `send`, about
    four times the CPU of appending it to a batch. One batch at a time, so the events of
    one key reach the broker in the order they were sent.
    """

    def __init__(
        self, producer: OrderedProducer, *, max_batch: int = 500, linger_seconds: float = 0.0
    ) -> None:
        self._producer = producer
        self._batches: MicroBatcher[OutgoingEvent, None] = MicroBatcher(
            self._send_all, max_weight=max_batch, max_in_flight=1, linger_seconds=linger_seconds
        )

    async def send(self, event: OutgoingEvent) -> None:
        """Return once the broker has `event` (raises as `OrderedProducer.send_all`)."""
        await self._batches.submit(event)

    async def _send_all(self, events: Sequence[OutgoingEvent]) -> list[None]:
        await self._producer.send_all(events)
        return [None] * len(events)


_BATCH_BYTES = 262_144
# Larger records go through aiokafka's `send`, which refuses what the broker would.
_LARGE_RECORD_BYTES = _BATCH_BYTES // 4


@dataclass(frozen=True, slots=True)
class _Record:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class _Batch:
    """Records of one partition on their way into one produce batch."""

    __slots__ = ("builder", "records")

    def __init__(self, builder: Any) -> None:
        self.builder = builder  # aiokafka's BatchBuilder
        self.records = 0

    def add(self, record: _Record) -> bool:
        """Append `record`; False when the batch is full (the record is not in it)."""
        added = self.builder.append(
            timestamp=None, key=record.key, value=record.value, headers=record.headers
        )
        if added is None:
            return False
        self.records += 1
        return True


@dataclass(slots=True)
class PendingSends:
    """Events handed to an `OrderedProducer` whose acknowledgements are still to come: one
    acknowledgement per batch, with its topic and how many records it carries."""

    acks: list[asyncio.Future[Any]] = dataclasses.field(default_factory=list)
    topics: list[str] = dataclasses.field(default_factory=list)
    records: list[int] = dataclasses.field(default_factory=list)

    def add(self, ack: asyncio.Future[Any], topic: str, records: int) -> None:
        self.acks.append(ack)
        self.topics.append(topic)
        self.records.append(records)

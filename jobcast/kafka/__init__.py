"""Kafka wiring shared by every service: topics, the broker, events in and out, dead letters.

What a consumer does with a record (`subscribe_validated`, `subscribe_validated_batch`, and
`validating` + `dead_letters_for` for a `ConcurrentConsumer`):

- not valid by the contract: parked in `<topic>.dlq` (kind `invalid`), the consumer goes on;
- valid, and its handler fails on infrastructure (`jobcast.failures`: database or broker
  away, a timeout, a deadlock): retried in place, then redelivered; never skipped. A
  consumer failing so for longer than JOBCAST_STALL_SECONDS is reported stalled
  (`jobcast.stalls`: `/readyz` 503, `jobcast_consumer_stalled` 1);
- valid, and its handler fails in any other way (a value Postgres refuses, a bug one odd
  record trips): it would fail the same on every try and hold up everything behind it, so
  that one record is parked in `<topic>.dlq` (kind `handler_failed`, the failure's type and
  message as reason) and the rest are handled; a batch is bisected to find it.

A dead letter keeps the original value, key and headers (read safely and capped, see
`jobcast.record_headers`) and adds the x-dlq-* headers; `jobcast_dlq_records_total{topic,
reason}` counts them by kind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError, TopicAlreadyExistsError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel, TypeAdapter, ValidationError

from jobcast import metrics
from jobcast.failures import describe_failure, is_deterministic, is_infrastructure
from jobcast.logs import event_fields, log_context
from jobcast.record_headers import (
    dead_letter_headers,
    header_text,
    headers_of,
    readable_headers,
)
from jobcast.stalls import STALLS
from jobcast.topics import ALL_TOPICS, TopicSpec, dead_letter_topic
from schemas import headers as h

log = logging.getLogger(__name__)
EventT = TypeVar("EventT")

# A failing handler (database down, broker hiccup) is retried in place, slower each
# time; the record is never skipped, because dropping a good event is worse than waiting.
_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 5.0)
# The dead-letter kind of a valid record whose handler failed deterministically.
HANDLER_FAILED = "handler_failed"
# What is kept of a record too large to be dead-lettered whole (x-dlq-truncated says so).
_DLQ_KEPT_BYTES = 64 * 1024
# Headers a dead letter writes itself: copies of them from the original are left out.
_DLQ_HEADERS = (
    h.DLQ_REASON,
    h.DLQ_KIND,
    h.DLQ_TOPIC,
    h.DLQ_PARTITION,
    h.DLQ_OFFSET,
    h.DLQ_GROUP,
    h.DLQ_TRUNCATED,
    h.DLQ_HEADERS_CUT,
)


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


def make_broker(bootstrap_servers: str, client_id: str) -> KafkaBroker:
    """A broker whose producer is idempotent (acks=all, no duplicate on producer retry)."""
    return KafkaBroker(
        bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        linger_ms=5,
        partitioner=CachedKeyPartitioner(),  # aiokafka's hashes every key in Python: ~9 µs
        logger=logging.getLogger(f"faststream.{client_id}"),
        log_level=logging.DEBUG,
    )


@dataclass(frozen=True, slots=True)
class RecordMeta:
    """Where a consumed record came from and the chain it belongs to."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    correlation_id: str | None


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


class CachedKeyPartitioner:
    """aiokafka's default partitioner (murmur2 of the key, as the Java client), with each
    key's hash remembered: the hash is pure Python, and the same keys (a connection id on
    every command to that account) come back all the time. Same partitions, less CPU."""

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return DefaultPartitioner()(key, all_partitions, available)  # type: ignore[no-any-return]
        return all_partitions[_key_hash(key) % len(all_partitions)]


@functools.lru_cache(maxsize=4096)
def _key_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(key: bytes) -> int:
    """The Java client's murmur2 (`Utils.murmur2`, unsigned), as aiokafka computes it, at
    half its cost: words are read by `struct` rather than byte by byte. Unique keys (post
    keys on results, job ids on events) miss the cache, so misses matter too."""
    length = len(key)
    h = 0x9747B28C ^ length
    end = length & ~3
    for (word,) in struct.iter_unpack("<I", key[:end]):
        k = (word * _M) & _MASK
        h = ((h * _M) & _MASK) ^ (((k ^ (k >> 24)) * _M) & _MASK)
    tail = length & 3
    if tail == 3:
        h ^= key[end + 2] << 16
    if tail >= 2:
        h ^= key[end + 1] << 8
    if tail:
        h = ((h ^ key[end]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


class OrderedProducer:
    """Produces many events at once, each partition in the order given, and waits for all.

    faststream's `publish` waits for each record's acknowledgement before the next one can
    be sent in order, which caps a sender at one record per broker round trip. Here the
    records of one `enqueue` are appended, per partition and in order, to batches of our
    own, which go to aiokafka whole (closed: sent at once, no linger); then all
    acknowledgements are awaited. The idempotent producer keeps each partition's order
    across retries. aiokafka's per-record `send` costs ~13 µs more CPU a record than
    appending to a batch (measured on a real broker: 21-24 against 8-10 µs in all).
    """

    def __init__(self, bootstrap_servers: str, client_id: str, *, linger_ms: int = 5) -> None:
        # `linger_ms` only matters for records too large for our batches, which go through
        # aiokafka's `send` (and its size checks) one by one.
        self._partitioner = CachedKeyPartitioner()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers,
            client_id=client_id,
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=_BATCH_BYTES,
            partitioner=self._partitioner,
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
    try:
        await broker.publish(
            event.model_dump_json().encode(), topic=topic, key=key.encode(), headers=headers
        )
    except Exception:
        metrics.PRODUCE_FAILURES.labels(topic=topic).inc()
        raise
    metrics.count_produced(topic)


async def publish_first_event(
    broker: KafkaBroker, topic: str, event: BaseModel, *, key: str
) -> None:
    """Publish an event that starts a chain: its own id becomes the correlation id."""
    event_id, event_type = getattr(event, "event_id", None), getattr(event, "event_type", None)
    assert event_id is not None, "a first event carries an event_id"
    await publish_event(
        broker, topic, event, key=key, correlation_id=str(event_id), event_type=event_type
    )


def describe_validation_error(exc: ValidationError, limit: int = 5) -> str:
    """A short, field-naming reason for a dead letter (input values are left out)."""
    parts = []
    for error in exc.errors(include_input=False)[:limit]:
        where = ".".join(str(p) for p in error["loc"]) or "<record>"
        parts.append(f"{where}: {error['msg']}")
    more = len(exc.errors()) - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


async def dead_letter(
    broker: KafkaBroker, raw: Any, *, group_id: str, reason: str, kind: str
) -> None:
    """Park an unprocessable record with its original bytes, key, headers and the reason.

    Never fails because of the original headers (null values, repeated keys, bytes that
    are not UTF-8, thousands of them): they are read safely and capped, and the x-dlq-*
    headers always win over copies of them.
    """
    headers, cut = dead_letter_headers(raw, reserved=_DLQ_HEADERS)
    headers.update(
        {
            h.DLQ_REASON: reason[:4000],
            h.DLQ_KIND: kind,
            h.DLQ_TOPIC: raw.topic,
            h.DLQ_PARTITION: str(raw.partition),
            h.DLQ_OFFSET: str(raw.offset),
            h.DLQ_GROUP: group_id,
        }
    )
    if cut:
        headers[h.DLQ_HEADERS_CUT] = str(cut)
    dlq = dead_letter_topic(raw.topic)
    value = raw.value or b""
    try:
        await broker.publish(value, topic=dlq, key=raw.key, headers=headers)
    except MessageSizeTooLargeError:
        # A record near the broker's size limit no longer fits once the reason is added;
        # retrying could never succeed and would stall the partition. Park its head.
        headers[h.DLQ_TRUNCATED] = str(len(value))
        await broker.publish(value[:_DLQ_KEPT_BYTES], topic=dlq, key=raw.key, headers=headers)
    metrics.DLQ_RECORDS.labels(topic=raw.topic, reason=kind).inc()
    log.warning(
        "record dead-lettered",
        extra={
            "topic": raw.topic,
            "partition": raw.partition,
            "offset": raw.offset,
            "kind": kind,
            "reason": reason[:500],
        },
    )


def validating(
    broker: KafkaBroker,
    group_id: str,
    adapter: TypeAdapter[EventT],
    handle: Callable[[EventT, RecordMeta], Awaitable[None]],
) -> Callable[[Any], Awaitable[None]]:
    """Wrap `handle` for raw records: validate, dead-letter the invalid, pass on the rest.

    Works on anything with aiokafka's record attributes (topic, partition, offset, key,
    value, headers): faststream's raw message and our `ConsumedRecord` alike.
    """

    async def route(raw: Any) -> None:
        started = time.perf_counter()
        with log_context(**metrics.record_log_fields(raw)):
            event = await _validate_or_dead_letter(broker, group_id, adapter, raw)
            if event is None:
                return
            with (
                log_context(**event_fields(event)),
                metrics.child(metrics.HANDLERS_IN_PROGRESS, raw.topic).track_inprogress(),
            ):
                await handle(event, _meta(raw))
        metrics.child(metrics.RECORDS_CONSUMED, raw.topic, "handled").inc()
        metrics.child(metrics.HANDLER_SECONDS, raw.topic).observe(time.perf_counter() - started)

    return route


def _readable_headers(record: Any) -> Any:
    """The record, with header values faststream's parser can decode strictly: a null
    value made empty, bytes that are not UTF-8 replaced (U+FFFD)."""
    for _, value in record.headers or ():
        if not isinstance(value, bytes) or not value.isascii():
            break
    else:
        return record  # the common case, checked without decoding anything
    try:
        for _, value in record.headers:
            value.decode()
    except (AttributeError, UnicodeDecodeError):
        return dataclasses.replace(record, headers=readable_headers(headers_of(record)))
    return record


async def _tolerant_parser(message: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """faststream's parser decodes every header value as strict UTF-8: a value that is not
    (anyone may produce such a header) made it drop the record silently or stop the
    subscriber for good, and a null value (legal in Kafka) raised on every redelivery.
    It parses a readable copy instead; the handler (and a dead letter) still gets the
    record as it came, so the record reaches `validating` whatever its headers hold."""
    if isinstance(message, (tuple, list)):  # a batch (faststream's test broker: a list)
        message = tuple(message)
        parsed = await original(tuple(_readable_headers(m) for m in message))
    else:
        parsed = await original(_readable_headers(message))
    parsed.raw_message = message
    return parsed


async def _undecoded(message: Any) -> Any:
    """Hand the body over as it came: our handlers parse and validate raw bytes themselves.

    faststream would otherwise json.loads every record before the handler runs (a second
    parse), and raise on some bodies (nested too deep; a `content-type` header promising
    JSON or text the bytes are not) before `validating` can dead-letter them: a NACK, the
    same record again, forever.
    """
    return message.body


def subscribe_validated(
    broker: KafkaBroker,
    topic: str,
    group_id: str,
    adapter: TypeAdapter[EventT],
    handle: Callable[[EventT, RecordMeta], Awaitable[None]],
) -> None:
    """Consume `topic` one record at a time through `validating`.

    Offsets are committed only after the record was handled, so a crash at any point
    means redelivery, never loss; handlers are written to be idempotent for that reason.
    A handler failing on infrastructure (`jobcast.failures`) is retried in place, then
    the record is redelivered (NACK): a good record is never skipped, and a consumer that
    keeps failing so is reported stalled (`jobcast.stalls`). A handler failing in any
    other way would fail the same on every try and hold up every record behind it: that
    record goes to the dead-letter topic (kind `handler_failed`, the failure as reason)
    and the next one is handled.
    """

    async def with_retries(event: EventT, meta: RecordMeta) -> None:
        await _handle_with_retries(handle, event, meta, group_id)

    route = validating(broker, group_id, adapter, with_retries)
    metrics.HANDLER_RETRIES.labels(topic=topic)  # the series exists at 0 from the start
    STALLS.watch(group_id, topic)

    async def on_record(message: KafkaMessage) -> None:
        raw = message.raw_message
        assert not isinstance(raw, tuple)  # single-record subscriber, never a batch
        try:
            await route(raw)
        except Exception as exc:
            if is_infrastructure(exc):
                raise  # NACK: the record is redelivered, not skipped
            await dead_letter_failed(broker, group_id, raw, exc)
        STALLS.recovered(group_id, raw.topic, raw.partition)

    broker.subscriber(
        topic,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        parser=_tolerant_parser,
        decoder=_undecoded,
    )(on_record)


def subscribe_validated_batch(
    broker: KafkaBroker,
    topic: str,
    group_id: str,
    adapter: TypeAdapter[EventT],
    handle: Callable[[list[tuple[EventT, RecordMeta]]], Awaitable[None]],
    *,
    max_records: int = 500,
) -> None:
    """Like `subscribe_validated`, but the handler gets every valid record of a poll at once.

    For handlers that do per-batch database work (one transaction, set-based statements):
    invalid records are dead-lettered one by one first, then the valid ones are handled
    together, retried in place as a whole on infrastructure failures (then NACKed and
    redelivered), and offsets are committed after the batch.

    A failure of any other kind means one or more records the handler cannot take: the
    batch is handled again in halves, the left one first (so each key keeps its order),
    down to the records that fail alone, which are dead-lettered (`handler_failed`); all
    the others are handled. Handlers must be idempotent (they are, for redeliveries):
    a half may run again after part of it was applied.
    """

    metrics.HANDLER_RETRIES.labels(topic=topic)  # the series exists at 0 from the start
    STALLS.watch(group_id, topic)
    park = dead_letters_for(broker, group_id)

    async def on_batch(message: KafkaMessage) -> None:
        raws = message.raw_message
        assert isinstance(raws, tuple)  # a batch subscriber always hands over a tuple
        valid: list[_Valid[EventT]] = []
        for raw in raws:
            event = await _validate_or_dead_letter(broker, group_id, adapter, raw)
            if event is not None:
                valid.append((event, _meta(raw), raw))
        if valid:
            started = time.perf_counter()
            in_progress = metrics.HANDLERS_IN_PROGRESS.labels(topic=topic)
            in_progress.inc(len(valid))
            try:
                parked = await _handle_isolating(handle, valid, topic, group_id, park)
            finally:
                in_progress.dec(len(valid))
            metrics.RECORDS_CONSUMED.labels(topic=topic, outcome="handled").inc(len(valid) - parked)
            metrics.HANDLER_SECONDS.labels(topic=topic).observe(
                (time.perf_counter() - started) / len(valid)
            )
        for partition in {raw.partition for raw in raws}:
            STALLS.recovered(group_id, topic, partition)

    broker.subscriber(
        topic,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        parser=_tolerant_parser,
        decoder=_undecoded,
    )(on_batch)


# A valid record of a batch: its event, where it came from, and the record itself (for a
# dead letter).
_Valid = tuple[EventT, RecordMeta, Any]


async def _handle_isolating(
    handle: Callable[[list[tuple[EventT, RecordMeta]]], Awaitable[None]],
    items: list[_Valid[EventT]],
    topic: str,
    group_id: str,
    park: Callable[[Any, BaseException], Awaitable[None]],
) -> int:
    """Handle `items`, isolating records that fail deterministically; returns how many
    were parked. Infrastructure failures propagate (after retries in place): NACK."""
    try:
        await _handle_batch_with_retries(handle, [(e, m) for e, m, _ in items], topic, group_id)
        return 0
    except Exception as exc:
        if is_infrastructure(exc):
            raise
        if len(items) == 1:
            await park(items[0][2], exc)
            return 1
        log.warning(
            "batch handler failed on a record no retry can change; isolating it by halves",
            extra={"topic": topic, "records": len(items), "error": describe_failure(exc)},
        )
    half = len(items) // 2
    left = await _handle_isolating(handle, items[:half], topic, group_id, park)
    return left + await _handle_isolating(handle, items[half:], topic, group_id, park)


async def dead_letter_failed(
    broker: KafkaBroker, group_id: str, raw: Any, exc: BaseException
) -> None:
    """Park a valid record whose handler failed in a way no retry can change (kind
    `handler_failed`, the failure's type and message, secrets redacted, as reason)."""
    log.error(
        "handler failed on this record in a way no retry can change; dead-lettering it",
        exc_info=exc,
        extra={"topic": raw.topic, "partition": raw.partition, "offset": raw.offset},
    )
    await dead_letter(
        broker, raw, group_id=group_id, reason=describe_failure(exc), kind=HANDLER_FAILED
    )
    metrics.RECORDS_CONSUMED.labels(topic=raw.topic, outcome="dead_lettered").inc()


def dead_letters_for(
    broker: KafkaBroker, group_id: str
) -> Callable[[Any, BaseException], Awaitable[None]]:
    """`dead_letter_failed` as a hook (`ConcurrentConsumer`'s `on_poison`): park the
    record with the failure."""

    async def park(raw: Any, exc: BaseException) -> None:
        await dead_letter_failed(broker, group_id, raw, exc)

    return park


async def _handle_batch_with_retries(
    handle: Callable[[list[tuple[EventT, RecordMeta]]], Awaitable[None]],
    valid: list[tuple[EventT, RecordMeta]],
    topic: str,
    group_id: str,
) -> None:
    for attempt, delay in enumerate((*_RETRY_DELAYS, None), start=1):
        try:
            with log_context(topic=topic, records=len(valid)):
                await handle(valid)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_deterministic(exc):
                raise  # no retry can change it: the caller isolates the record(s)
            for partition in {meta.partition for _, meta in valid}:
                STALLS.failed(group_id, topic, partition, exc)
            if delay is None:
                raise  # NACK: the batch is redelivered, not skipped
            metrics.HANDLER_RETRIES.labels(topic=topic).inc()
            log.exception(
                "batch handler failed; retrying",
                extra={"topic": topic, "records": len(valid), "attempt": attempt},
            )
            await asyncio.sleep(delay)


async def _validate_or_dead_letter(
    broker: KafkaBroker, group_id: str, adapter: TypeAdapter[EventT], raw: Any
) -> EventT | None:
    """The record's event, or None once an invalid record is parked with the reason."""
    try:
        return adapter.validate_json(raw.value or b"")
    except ValidationError as exc:
        await dead_letter(
            broker, raw, group_id=group_id, reason=describe_validation_error(exc), kind="invalid"
        )
        metrics.RECORDS_CONSUMED.labels(topic=raw.topic, outcome="dead_lettered").inc()
        return None


def _meta(raw: Any) -> RecordMeta:
    return RecordMeta(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key,
        correlation_id=header_text(raw, h.CORRELATION_ID),
    )


async def _handle_with_retries(
    handle: Callable[[EventT, RecordMeta], Awaitable[None]],
    event: EventT,
    meta: RecordMeta,
    group_id: str,
) -> None:
    for attempt, delay in enumerate((*_RETRY_DELAYS, None), start=1):
        try:
            await handle(event, meta)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_deterministic(exc):
                raise  # no retry can change it: the caller dead-letters the record
            STALLS.failed(group_id, meta.topic, meta.partition, exc)
            if delay is None:
                raise  # NACK: the record is redelivered, not skipped
            metrics.HANDLER_RETRIES.labels(topic=meta.topic).inc()
            log.exception(
                "handler failed; retrying",
                extra={"topic": meta.topic, "offset": meta.offset, "attempt": attempt},
            )
            await asyncio.sleep(delay)

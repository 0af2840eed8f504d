"""faststream subscribers: a service's topics in one consumer group, each topic's records of
a poll handed to its own handler at once, through validation and `settle` (see
`jobcast.kafka.handling`).

Offsets are committed only after a record was handled (at most every half second, see
`jobcast.kafka.commits`), so a crash at any point means redelivery, never loss; handlers
are written to be idempotent for that reason. A record still failing on infrastructure
after its tries in place is NACKed: faststream fetches it again, and the consumer keeps
polling (a group member that stops polling is dropped).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aiokafka import AIOKafkaConsumer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import TypeAdapter

from jobcast import metrics
from jobcast.failures import describe_failure
from jobcast.kafka.commits import CommitOnRevoke, PollAck, PollCommits
from jobcast.kafka.dead_letters import dead_letters_for
from jobcast.kafka.handling import settle, validate_or_dead_letter
from jobcast.kafka.polling import (
    FetchPacing,
    consumer_waits,
    gathering_waits,
    polls_without_napping,
)
from jobcast.kafka.records import RecordMeta, record_meta
from jobcast.kafka.retry import DEFAULT_RETRY_DELAYS
from jobcast.logs import log_context
from jobcast.record_headers import headers_of, readable_headers
from jobcast.stalls import STALLS

log = logging.getLogger(__name__)
EventT = TypeVar("EventT")

# Tries in place before a NACK: read when a record fails, so tests can shorten them.
_RETRY_DELAYS = DEFAULT_RETRY_DELAYS


@dataclass(frozen=True, slots=True)
class BatchRoute(Generic[EventT]):
    """One topic of a batch subscriber: the type of its events and their handler.

    `singly`: each record is handled, retried and isolated on its own (see `record_route`).
    """

    topic: str
    adapter: TypeAdapter[EventT]
    handle: Callable[[list[tuple[EventT, RecordMeta]]], Awaitable[None]]
    singly: bool = False


def record_route(
    topic: str,
    adapter: TypeAdapter[EventT],
    handle: Callable[[EventT, RecordMeta], Awaitable[None]],
) -> BatchRoute[EventT]:
    """A topic whose handler takes one record at a time: the poll's records in order, each
    settled on its own, so a record that fails never makes the others run again."""

    async def handle_one(items: list[tuple[EventT, RecordMeta]]) -> None:
        for event, meta in items:
            await handle(event, meta)

    return BatchRoute(topic, adapter, handle_one, singly=True)


def subscribe_validated_batch(
    broker: KafkaBroker,
    group_id: str,
    routes: Sequence[BatchRoute[Any]],
    *,
    max_records: int = 500,
    gather: bool = False,
) -> None:
    """Consume the routes' topics in one group (one consumer, one fetch for them all); each
    topic's handler gets every valid record of that topic in a poll at once.

    `gather`: the records may wait up to a quarter of a second, so the broker gathers them
    into larger batches under load (`jobcast.kafka.polling.gathering_waits`).

    For handlers that do per-batch database work (one transaction, set-based statements):
    invalid records are dead-lettered one by one first, then the valid ones are handled
    together, retried in place as a whole on infrastructure failures (then NACKed and
    redelivered), and the poll's offsets are committed after it (`PollCommits`).

    A failure of any other kind means one or more records the handler cannot take: the
    batch is handled again in halves, the left one first (so each key keeps its order),
    down to the records that fail alone, which are dead-lettered (`handler_failed`); all
    the others are handled. Handlers must be idempotent (they are, for redeliveries):
    a half may run again after part of it was applied.
    """
    by_topic = {route.topic: route for route in routes}
    for topic in by_topic:
        metrics.HANDLER_RETRIES.labels(topic=topic)  # the series exists at 0 from the start
        STALLS.watch(group_id, topic)
    park = dead_letters_for(broker, group_id)

    async def on_batch(message: KafkaMessage) -> None:
        raws = message.raw_message
        assert isinstance(raws, tuple)  # a batch subscriber always hands over a tuple
        polled: dict[str, list[Any]] = {}
        for raw in raws:
            polled.setdefault(raw.topic, []).append(raw)
        for topic, records in polled.items():
            await _handle_topic(broker, group_id, by_topic[topic], records, park)

    waits = gathering_waits() if gather else {}
    _subscribe(
        broker, list(by_topic), group_id, on_batch, batch=True, max_records=max_records, **waits
    )


async def _handle_topic(
    broker: KafkaBroker,
    group_id: str,
    route: BatchRoute[EventT],
    raws: list[Any],
    park: Callable[[Any, BaseException], Awaitable[None]],
) -> None:
    topic = route.topic
    valid: list[_Valid[EventT]] = []
    for raw in raws:
        event = await validate_or_dead_letter(broker, group_id, route.adapter, raw)
        if event is not None:
            valid.append((event, record_meta(raw), raw))
    if valid:
        started = time.perf_counter()
        in_progress = metrics.HANDLERS_IN_PROGRESS.labels(topic=topic)
        in_progress.inc(len(valid))
        try:
            batches = [[item] for item in valid] if route.singly else [valid]
            parked = 0
            for batch in batches:
                parked += await _handle_isolating(route.handle, batch, topic, group_id, park)
        finally:
            in_progress.dec(len(valid))
        metrics.RECORDS_CONSUMED.labels(topic=topic, outcome="handled").inc(len(valid) - parked)
        metrics.HANDLER_SECONDS.labels(topic=topic).observe(
            (time.perf_counter() - started) / len(valid)
        )
    for partition in {raw.partition for raw in raws}:
        STALLS.recovered(group_id, topic, partition)


def _subscribe(
    broker: KafkaBroker,
    topics: Sequence[str],
    group_id: str,
    handler: Callable[[KafkaMessage], Awaitable[None]],
    **options: Any,
) -> None:
    waits = {**consumer_waits(), **options}
    commits = PollCommits()

    async def parser(message: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
        parsed = await _tolerant_parser(message, original)
        if isinstance(parsed.consumer, AIOKafkaConsumer):  # not faststream's test consumer
            raw = parsed.raw_message
            parsed.consumer = PollAck(commits, parsed.consumer, raw if isinstance(raw, tuple)
                                      else (raw,))  # fmt: skip
        return parsed

    subscriber = broker.subscriber(
        *topics,
        group_id=group_id,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        parser=parser,
        decoder=_undecoded,
        listener=CommitOnRevoke(commits),
        **waits,
    )
    subscriber(handler)
    polls_without_napping(
        subscriber, FetchPacing(waits["fetch_max_wait_ms"], waits.get("fetch_min_bytes", 1))
    )
    poll = subscriber.get_msg

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        if commits.consumer is not consumer:  # started, or started again
            commits.attach(consumer)
        records: tuple[Any, ...] = await poll(consumer)
        await commits.commit_if_time()  # what was handled before a quiet spell
        return records

    subscriber.get_msg = get_msg


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
    parked = 0

    async def handle_all() -> None:
        with log_context(topic=topic, records=len(items)):
            await handle([(event, meta) for event, meta, _ in items])

    async def isolate(exc: Exception) -> None:
        nonlocal parked
        if len(items) == 1:
            await park(items[0][2], exc)
            parked = 1
            return
        log.warning(
            "batch handler failed on a record no retry can change; isolating it by halves",
            extra={"topic": topic, "records": len(items), "error": describe_failure(exc)},
        )
        half = len(items) // 2
        parked = await _handle_isolating(handle, items[:half], topic, group_id, park)
        parked += await _handle_isolating(handle, items[half:], topic, group_id, park)

    await settle(
        handle_all,
        group_id=group_id,
        topic=topic,
        where={meta.partition for _, meta, _ in items},
        retries=metrics.child(metrics.HANDLER_RETRIES, topic),
        delays=_RETRY_DELAYS,
        attempts=len(_RETRY_DELAYS) + 1,
        isolate=isolate,
        log_fields=lambda: {"topic": topic, "records": len(items)},
    )
    return parked


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

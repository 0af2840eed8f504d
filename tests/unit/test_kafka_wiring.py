"""The consumer wiring in memory (TestKafkaBroker): valid records reach the handler,
invalid ones reach the dead-letter topic with the reason, and the consumer carries on.
The same path runs against the real broker in tests/integration/test_dead_letters.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from pydantic import BaseModel, TypeAdapter

from jobcast.kafka import BatchRoute, RecordMeta, record_route, subscribe_validated_batch
from jobcast.kafka.polling import FETCH_MAX_WAIT_MS, GATHER_MIN_BYTES, GATHER_WAIT_MS
from jobcast.kafka.records import record_meta as _meta
from jobcast.kafka.subscribe import _tolerant_parser
from schemas import headers as h


class Ping(BaseModel):
    n: int


class Pong(BaseModel):
    text: str


def subscribe(
    broker: KafkaBroker,
    handle: Callable[[list[tuple[Ping, RecordMeta]]], Awaitable[None]],
    gather: bool = False,
) -> None:
    subscribe_validated_batch(
        broker, "g", [BatchRoute("pings", TypeAdapter(Ping), handle)], gather=gather
    )


def subscribe_singly(
    broker: KafkaBroker, handle: Callable[[Ping, RecordMeta], Awaitable[None]]
) -> None:
    subscribe_validated_batch(broker, "g", [record_route("pings", TypeAdapter(Ping), handle)])


async def test_one_subscriber_hands_each_topic_to_its_own_handler() -> None:
    broker = KafkaBroker()
    pings: list[list[int]] = []
    pongs: list[str] = []

    async def handle_pings(batch: list[tuple[Ping, RecordMeta]]) -> None:
        pings.append([event.n for event, _ in batch])

    async def handle_pong(event: Pong, meta: RecordMeta) -> None:
        assert meta.topic == "pongs"
        pongs.append(event.text)

    subscribe_validated_batch(
        broker,
        "g",
        [
            BatchRoute("pings", TypeAdapter(Ping), handle_pings),
            record_route("pongs", TypeAdapter(Pong), handle_pong),
        ],
    )
    dead = dead_letter_log(broker, "pongs.dlq")
    assert len(broker.subscribers) == 2  # the one subscriber and the test's dead letters
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(b'{"n": 1}', b'{"n": 2}', topic="pings")
        await test_broker.publish_batch(
            b'{"text": "a"}', b'{"n": 3}', b'{"text": "b"}', topic="pongs"
        )
    assert pings == [[1, 2]]
    assert pongs == ["a", "b"]
    assert [d.value for d in dead] == [b'{"n": 3}']  # a ping on the pongs topic is invalid there


async def test_valid_to_handler_invalid_to_dead_letters() -> None:
    broker = KafkaBroker()
    handled: list[tuple[Ping, RecordMeta]] = []
    dead: list[Any] = []

    async def handle(event: Ping, meta: RecordMeta) -> None:
        handled.append((event, meta))

    subscribe_singly(broker, handle)

    @broker.subscriber("pings.dlq")
    async def on_dead(message: KafkaMessage) -> None:
        dead.append(message.raw_message)

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b"not json", "pings", key=b"k1")
        await test_broker.publish(b'{"n": "many"}', "pings", key=b"k2")
        await test_broker.publish(
            b'{"n": 3}', "pings", key=b"k3", headers={h.CORRELATION_ID: "corr-1"}
        )

    assert [(e.n, m.correlation_id, m.key) for e, m in handled] == [(3, "corr-1", b"k3")]
    assert [d.value for d in dead] == [b"not json", b'{"n": "many"}']
    reasons = [dict((k, v.decode()) for k, v in d.headers)[h.DLQ_REASON] for d in dead]
    assert "Invalid JSON" in reasons[0]
    assert reasons[1].startswith("n: ")
    assert all(dict(d.headers)[h.DLQ_TOPIC] == b"pings" for d in dead)


async def test_handler_errors_are_retried_then_redelivered_not_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jobcast.kafka.subscribe as wiring

    monkeypatch.setattr(wiring, "_RETRY_DELAYS", (0.0, 0.0))
    broker = KafkaBroker()
    calls: list[int] = []

    async def flaky(event: Ping, meta: RecordMeta) -> None:
        calls.append(event.n)
        if len(calls) < 3:
            raise ConnectionError("database briefly down")

    subscribe_singly(broker, flaky)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b'{"n": 1}', "pings")
    assert calls == [1, 1, 1]


# ---------------------------------------------------------------- poison records


class DataError(ValueError):
    """Like asyncpg's DataError: a value the database refuses, on every try."""


def dead_letter_log(broker: KafkaBroker, topic: str = "pings.dlq") -> list[Any]:
    dead: list[Any] = []

    @broker.subscriber(topic)
    async def on_dead(message: KafkaMessage) -> None:
        dead.append(message.raw_message)

    return dead


def dlq_headers(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_a_record_its_handler_cannot_take_is_dead_lettered_and_the_next_handled() -> None:
    broker = KafkaBroker()
    handled: list[int] = []

    async def handle(event: Ping, meta: RecordMeta) -> None:
        if event.n > 2**31:
            raise DataError("invalid input for query argument $1: 3000000000 (out of int32 range)")
        handled.append(event.n)

    subscribe_singly(broker, handle)
    dead = dead_letter_log(broker)
    async with TestKafkaBroker(broker) as test_broker:
        for n in (1, 3_000_000_000, 2):
            await test_broker.publish(f'{{"n": {n}}}'.encode(), "pings", key=b"k")

    assert handled == [1, 2]
    [letter] = dead
    assert letter.value == b'{"n": 3000000000}'
    headers = dlq_headers(letter)
    assert headers[h.DLQ_KIND] == "handler_failed"
    assert headers[h.DLQ_REASON].startswith("DataError: invalid input for query argument $1")
    assert headers[h.DLQ_GROUP] == "g"


async def test_a_batch_is_bisected_down_to_the_record_that_fails_and_keeps_order() -> None:
    broker = KafkaBroker()
    calls: list[list[int]] = []
    applied: list[int] = []

    async def handle(batch: list[tuple[Ping, RecordMeta]]) -> None:
        ns = [event.n for event, _ in batch]
        calls.append(ns)
        if 13 in ns:
            raise DataError("value out of int32 range")
        applied.extend(ns)

    subscribe(broker, handle)
    dead = dead_letter_log(broker)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(
            *(f'{{"n": {n}}}'.encode() for n in range(10, 18)), topic="pings"
        )

    assert [dlq_headers(d)[h.DLQ_KIND] for d in dead] == ["handler_failed"]
    assert dead[0].value == b'{"n": 13}'
    assert applied == [10, 11, 12, 14, 15, 16, 17]  # every other record, in order
    assert calls[0] == list(range(10, 18))
    assert len(calls) <= 1 + 2 * 3  # about 2·log2(8) more tries, not one per record


async def test_a_batch_failing_on_infrastructure_is_retried_whole_not_bisected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import jobcast.kafka.subscribe as wiring

    monkeypatch.setattr(wiring, "_RETRY_DELAYS", (0.0, 0.0))
    broker = KafkaBroker()
    calls: list[list[int]] = []

    async def handle(batch: list[tuple[Ping, RecordMeta]]) -> None:
        calls.append([event.n for event, _ in batch])
        if len(calls) < 3:
            raise ConnectionRefusedError(111, "Connection refused")

    subscribe(broker, handle)
    dead = dead_letter_log(broker)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(b'{"n": 1}', b'{"n": 2}', topic="pings")
    assert calls == [[1, 2]] * 3
    assert dead == []


async def test_null_and_binary_header_values_pass_faststreams_parser_untouched() -> None:
    original = ConsumerRecord(
        topic="pings", partition=0, offset=5, timestamp=0, timestamp_type=0,
        key=b"k", value=b'{"n": 1}', checksum=None, serialized_key_size=1,
        serialized_value_size=8,
        headers=[(h.CORRELATION_ID, None), ("x-bin", b"\xff"), (h.CORRELATION_ID, b"c-1")],
    )  # fmt: skip

    async def strict_parser(message: Any) -> Any:
        first = message[0] if isinstance(message, tuple) else message
        headers = {key: value.decode() for key, value in first.headers}  # as faststream's
        return StreamMessage(raw_message=message, body=first.value, headers=headers)

    parsed = await _tolerant_parser(original, strict_parser)
    assert parsed.headers == {h.CORRELATION_ID: "c-1", "x-bin": "\ufffd"}
    assert parsed.raw_message is original  # the handler sees the record as it came
    assert _meta(original).correlation_id == "c-1"
    batch = await _tolerant_parser((original, original), strict_parser)
    assert batch.raw_message == (original, original)


def subscriber_options(gather: bool) -> dict[str, Any]:
    broker = KafkaBroker()
    seen: dict[str, Any] = {}
    real = broker.subscriber

    def spy(*args: Any, **options: Any) -> Any:
        seen.update(options)
        return real(*args, **options)

    broker.subscriber = spy  # type: ignore[method-assign]

    async def handle(batch: list[tuple[Ping, RecordMeta]]) -> None:
        return None

    subscribe(broker, handle, gather=gather)
    return seen


def test_a_gathering_subscriber_lets_the_broker_gather_and_others_do_not() -> None:
    gathering = subscriber_options(gather=True)
    assert gathering["fetch_min_bytes"] == GATHER_MIN_BYTES > 1
    assert gathering["fetch_max_wait_ms"] == GATHER_WAIT_MS
    plain = subscriber_options(gather=False)
    assert plain.get("fetch_min_bytes", 1) == 1  # a record goes as soon as it is there
    assert plain["fetch_max_wait_ms"] == FETCH_MAX_WAIT_MS


async def test_a_record_route_isolates_a_record_without_running_the_others_again() -> None:
    broker = KafkaBroker()
    calls: list[int] = []

    async def handle(event: Ping, meta: RecordMeta) -> None:
        calls.append(event.n)
        if event.n > 2**31:
            raise DataError("value out of int32 range")

    subscribe_singly(broker, handle)
    dead = dead_letter_log(broker)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish_batch(
            b'{"n": 1}', b'{"n": 3000000000}', b'{"n": 2}', topic="pings"
        )
    assert calls == [1, 3_000_000_000, 2]  # each once: a batch route would bisect and rerun
    assert [d.value for d in dead] == [b'{"n": 3000000000}']


class PolledConsumer:
    """Answers `getmany` from a list, as aiokafka would after waiting."""

    def __init__(self, answers: list[dict[str, list[str]]]) -> None:
        self.answers = answers
        self.polls: list[tuple[int, int | None]] = []

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> Any:
        self.polls.append((timeout_ms, max_records))
        return self.answers.pop(0)

    async def stop(self) -> None:
        return None


async def test_after_an_empty_poll_the_subscriber_polls_again_instead_of_napping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # faststream's batch subscriber sleeps its batch timeout after an empty poll, and a record
    # arriving meanwhile waits it out; `getmany` already waits, returning on the first record.
    import anyio  # faststream naps through `anyio.sleep`

    naps: list[float] = []

    async def nap(seconds: float) -> None:
        naps.append(seconds)

    monkeypatch.setattr(anyio, "sleep", nap)
    broker = KafkaBroker()
    made: list[Any] = []
    real = broker.subscriber

    def keep(*args: Any, **options: Any) -> Any:
        made.append(real(*args, **options))
        return made[-1]

    broker.subscriber = keep  # type: ignore[method-assign]

    async def handle(batch: list[tuple[Ping, RecordMeta]]) -> None:
        return None

    subscribe(broker, handle)
    consumer = PolledConsumer([{}, {"p0": ["a", "b"], "p1": ["c"]}])
    assert await made[0].get_msg(consumer) == ()
    assert await made[0].get_msg(consumer) == ("a", "b", "c")
    assert naps == []
    assert consumer.polls == [(FETCH_MAX_WAIT_MS, 500)] * 2

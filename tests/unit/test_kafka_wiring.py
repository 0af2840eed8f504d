"""The consumer wiring in memory (TestKafkaBroker): valid records reach the handler,
invalid ones reach the dead-letter topic with the reason, and the consumer carries on.
The same path runs against the real broker in tests/integration/test_dead_letters.py."""

from __future__ import annotations

from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import BaseModel, TypeAdapter

from jobcast.kafka import RecordMeta, subscribe_validated
from schemas import headers as h


class Ping(BaseModel):
    n: int


async def test_valid_to_handler_invalid_to_dead_letters() -> None:
    broker = KafkaBroker()
    handled: list[tuple[Ping, RecordMeta]] = []
    dead: list[Any] = []

    async def handle(event: Ping, meta: RecordMeta) -> None:
        handled.append((event, meta))

    subscribe_validated(broker, "pings", "g", TypeAdapter(Ping), handle)

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
    import jobcast.kafka as wiring

    monkeypatch.setattr(wiring, "_RETRY_DELAYS", (0.0, 0.0))
    broker = KafkaBroker()
    calls: list[int] = []

    async def flaky(event: Ping, meta: RecordMeta) -> None:
        calls.append(event.n)
        if len(calls) < 3:
            raise ConnectionError("database briefly down")

    subscribe_validated(broker, "pings", "g", TypeAdapter(Ping), flaky)
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(b'{"n": 1}', "pings")
    assert calls == [1, 1, 1]

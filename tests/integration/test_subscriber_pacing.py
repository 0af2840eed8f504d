"""A gathering faststream subscriber on the real broker: idle, its fetches wait long and take
the first byte, so a lone record still arrives at once; then it gathers again."""

from __future__ import annotations

import time
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, TypeAdapter

from jobcast.kafka import BatchRoute, RecordMeta, polling, subscribe_validated_batch
from tests.harness import Infra
from tests.integration.helpers import long_fetch_in_flight, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


class Ping(BaseModel):
    n: int


async def test_an_idle_gathering_subscriber_takes_a_lone_record_at_once_and_stops_at_once(
    infra: Infra, admin: AIOKafkaAdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "QUIET_BEFORE_IDLE_S", 0.5)
    topic = f"test.pacing.{uuid.uuid4().hex[:8]}"
    await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    seen: dict[int, float] = {}

    async def handle(batch: list[tuple[Ping, RecordMeta]]) -> None:
        for ping, _ in batch:
            seen[ping.n] = time.perf_counter()

    broker = KafkaBroker(infra.kafka_bootstrap_servers)
    group = f"g-{uuid.uuid4().hex[:8]}"
    subscribe_validated_batch(broker, group, [BatchRoute(topic, TypeAdapter(Ping), handle)],
                              gather=True)  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    await broker.start()
    try:
        await producer.send_and_wait(topic, b'{"n": 1}')
        await wait_until(lambda: 1 in seen, 30, "the first record")
        [subscriber] = broker.subscribers
        fetcher = subscriber.consumer._fetcher  # type: ignore[attr-defined]
        await long_fetch_in_flight(fetcher)
        assert fetcher._fetch_min_bytes == 1
        sent = time.perf_counter()
        await producer.send_and_wait(topic, b'{"n": 2}')
        await wait_until(lambda: 2 in seen, 20, "the record sent while idle")
        waited = seen[2] - sent
        gathering = (fetcher._fetch_max_wait_ms, fetcher._fetch_min_bytes)
        await long_fetch_in_flight(fetcher)
        stopping = time.perf_counter()
        await broker.stop()  # with a long fetch in flight
        stopped_in = time.perf_counter() - stopping
    finally:
        await broker.stop()
        await producer.stop()
    assert stopped_in < polling.IDLE_FETCH_WAIT_MS / 1000 / 2, f"stopping took {stopped_in:.2f} s"
    # Without the idle minimum of one byte it would wait the whole idle fetch.
    assert waited < polling.IDLE_FETCH_WAIT_MS / 1000 / 2, f"the record waited {waited:.2f} s"
    assert gathering == (polling.GATHER_WAIT_MS, polling.GATHER_MIN_BYTES)

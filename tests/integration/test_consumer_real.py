"""The concurrent consumer against the real broker: concurrency with per-lane order, crash
safety of the committed watermark, in-place retries, graceful stop, and a rebalance.

Every test makes its own topic (3 partitions) and consumer group, so they run in any order.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from prometheus_client import REGISTRY

from jobcast.kafka import ConcurrentConsumer, ConsumedRecord, polling
from tests.harness import Infra
from tests.integration.helpers import committed, long_fetch_in_flight, wait_until

# Each test takes well under 30 s; the limit leaves room for starting the session's broker.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

PARTITIONS = 3
Ref = tuple[int, int]  # (partition, offset)


@dataclass
class Produced:
    """What a test wrote: each record's place, and the lane sequence it carries."""

    topic: str
    refs: dict[Ref, tuple[str, int]] = field(default_factory=dict)  # (lane, seq) by place
    end: dict[int, int] = field(default_factory=dict)  # partition -> end offset

    def lane_partition(self) -> dict[str, int]:
        return {lane: p for (p, _), (lane, _) in self.refs.items()}


async def produce(
    infra: Infra, admin: AIOKafkaAdminClient, lanes: int, per_lane: int, name: str
) -> Produced:
    """A fresh topic with `lanes` keys × `per_lane` records; values are b"<lane>:<seq>"."""
    topic = f"test.consumer.{name}.{uuid.uuid4().hex[:8]}"
    await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    producer = AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap_servers, linger_ms=5, enable_idempotence=True
    )
    await producer.start()
    try:
        sent = []
        for seq in range(per_lane):
            for n in range(lanes):
                lane = f"lane-{n}"
                future = await producer.send(topic, f"{lane}:{seq}".encode(), key=lane.encode())
                sent.append(((lane, seq), future))
        produced = Produced(topic)
        for lane_seq, future in sent:
            meta = await future
            produced.refs[(meta.partition, meta.offset)] = lane_seq
            produced.end[meta.partition] = max(produced.end.get(meta.partition, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return produced


class Recorder:
    """A handler wrapper that records what ran where, and checks per-lane exclusivity."""

    def __init__(self, work: Callable[[ConsumedRecord], Awaitable[None]]) -> None:
        self._work = work
        self.handled: list[Ref] = []  # completion order
        self.by_lane: dict[str, list[int]] = defaultdict(list)  # seqs in start order
        self.active: dict[str, int] = defaultdict(int)
        self.lane_overlaps = 0
        self.peak = 0
        self.first_start: float | None = None
        self.last_end = 0.0

    async def __call__(self, record: ConsumedRecord) -> None:
        lane, seq = record.value.decode().split(":")
        self.first_start = self.first_start or time.perf_counter()
        self.active[lane] += 1
        self.lane_overlaps += self.active[lane] > 1
        self.peak = max(self.peak, sum(self.active.values()))
        self.by_lane[lane].append(int(seq))
        try:
            await self._work(record)
        finally:
            self.active[lane] -= 1
        self.handled.append((record.partition, record.offset))
        self.last_end = time.perf_counter()

    def refs(self) -> set[Ref]:
        return set(self.handled)


def make_consumer(
    infra: Infra, topic: str, group: str, handle: Recorder, **options: object
) -> ConcurrentConsumer:
    options.setdefault("commit_interval_s", 0.1)
    return ConcurrentConsumer(
        bootstrap_servers=infra.kafka_bootstrap_servers,
        topics=[topic],
        group_id=group,
        handle=handle,
        **options,  # type: ignore[arg-type]  # each test passes a few well-typed knobs
    )


async def test_many_lanes_run_concurrently_each_lane_in_order(
    infra: Infra, admin: AIOKafkaAdminClient
) -> None:
    produced = await produce(infra, admin, lanes=200, per_lane=10, name="throughput")

    async def work(record: ConsumedRecord) -> None:
        await asyncio.sleep(0.05)  # a remote call

    recorder = Recorder(work)
    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = make_consumer(infra, produced.topic, group, recorder)
    started = time.perf_counter()
    await consumer.start()
    try:
        await wait_until(lambda: len(recorder.handled) >= 2000, 20, "2,000 records")
        wall = time.perf_counter() - started
    finally:
        await consumer.stop()

    assert sorted(recorder.handled) == sorted(produced.refs)  # each exactly once
    assert all(seqs == list(range(10)) for seqs in recorder.by_lane.values())
    assert len(recorder.by_lane) == 200
    assert recorder.lane_overlaps == 0
    assert recorder.first_start is not None
    busy = recorder.last_end - recorder.first_start
    print(
        f"\n2,000 records x 50 ms over 200 lanes: {wall:.2f} s incl. group join, "
        f"{busy:.2f} s handling = {2000 / busy:,.0f} records/s, peak {recorder.peak} in flight"
    )
    assert wall < 10
    assert recorder.peak > 100  # really concurrent (sequential would take 100 s)
    assert await committed(admin, group) == produced.end


async def test_target_shape_over_1000_per_second(infra: Infra, admin: AIOKafkaAdminClient) -> None:
    # The publisher's shape: ~200 ms per Graph API call, many accounts at once.
    produced = await produce(infra, admin, lanes=1000, per_lane=5, name="target")

    async def work(record: ConsumedRecord) -> None:
        await asyncio.sleep(0.2)

    recorder = Recorder(work)
    consumer = make_consumer(infra, produced.topic, f"g-{uuid.uuid4().hex[:8]}", recorder)
    await consumer.start()
    try:
        await wait_until(lambda: len(recorder.handled) >= 5000, 20, "5,000 records")
    finally:
        await consumer.stop()
    assert recorder.first_start is not None
    rate = 5000 / (recorder.last_end - recorder.first_start)
    print(f"\n5,000 records x 200 ms over 1,000 lanes: {rate:,.0f} records/s")
    assert sorted(recorder.handled) == sorted(produced.refs)
    assert recorder.peak <= 1000  # max_in_flight
    assert rate >= 1000


async def test_crash_mid_run_loses_nothing_below_the_committed_watermark(
    infra: Infra, admin: AIOKafkaAdminClient
) -> None:
    produced = await produce(infra, admin, lanes=90, per_lane=10, name="crash")
    group = f"g-{uuid.uuid4().hex[:8]}"
    jitter = random.Random(7)

    async def uneven(record: ConsumedRecord) -> None:
        # Lanes finish at different speeds, so a partition completes out of order.
        await asyncio.sleep(jitter.uniform(0.005, 0.08))

    first = Recorder(uneven)
    crashed = make_consumer(infra, produced.topic, group, first)
    await crashed.start()
    await wait_until(lambda: len(first.handled) >= 350, 20, "350 records before the crash")
    await crashed.abort()  # no drain, no final commit: what a kill -9 leaves behind
    watermark = await committed(admin, group)
    assert watermark, "periodic commits happened before the crash"
    done_before = first.refs()

    for (partition, offset), _ in produced.refs.items():
        if offset < watermark.get(partition, 0):
            assert (partition, offset) in done_before, "committed past an unhandled record"
    # Out-of-order completion really happened: work above the watermark was done too.
    above = [ref for ref in done_before if ref[1] >= watermark.get(ref[0], 0)]
    assert above
    missing_after_crash = set(produced.refs) - done_before
    assert missing_after_crash

    second = Recorder(uneven)
    successor = make_consumer(infra, produced.topic, group, second)
    await successor.start()
    try:
        await wait_until(
            lambda: missing_after_crash <= second.refs(), 20, "the successor to catch up"
        )
    finally:
        await successor.stop()
    assert done_before | second.refs() == set(produced.refs)  # nothing missing overall
    # The successor resumed exactly at the watermark (redelivering the work above it).
    for partition in range(PARTITIONS):
        if watermark.get(partition, 0) < produced.end[partition]:
            resumed = min(o for p, o in second.refs() if p == partition)
            assert resumed == watermark.get(partition, 0)
    print(
        f"\ncrash after {len(done_before)} records, watermark {watermark}; "
        f"{len(above)} redelivered duplicates, {len(missing_after_crash)} never handled before"
    )


async def test_a_failing_lane_retries_while_other_lanes_complete(
    infra: Infra, admin: AIOKafkaAdminClient
) -> None:
    produced = await produce(infra, admin, lanes=30, per_lane=10, name="retry")
    bad_lane = "lane-7"
    healthy = asyncio.Event()
    group = f"g-{uuid.uuid4().hex[:8]}"

    async def work(record: ConsumedRecord) -> None:
        if record.key == bad_lane.encode() and not healthy.is_set():
            raise ConnectionError("Graph API unreachable for this account")
        await asyncio.sleep(0.01)

    recorder = Recorder(work)
    consumer = make_consumer(infra, produced.topic, group, recorder, retry_delays=(0.05, 0.1, 0.2))
    await consumer.start()
    try:
        await wait_until(lambda: len(recorder.handled) >= 290, 20, "the healthy lanes")
        await asyncio.sleep(0.5)  # a few more retry rounds and commit ticks
        bad_refs = {ref for ref, (lane, _) in produced.refs.items() if lane == bad_lane}
        assert not bad_refs & recorder.refs()
        assert recorder.by_lane[bad_lane] == [0] * len(recorder.by_lane[bad_lane])  # only seq 0
        failures = REGISTRY.get_sample_value(
            "jobcast_consumer_handler_failures_total", {"group": group, "topic": produced.topic}
        )
        assert failures is not None
        assert failures >= 3
        first_bad = min(bad_refs)
        assert (await committed(admin, group)).get(first_bad[0], 0) <= first_bad[1]

        healthy.set()  # e.g. the token got refreshed
        await wait_until(lambda: len(recorder.handled) >= 300, 10, "the retried lane")
    finally:
        await consumer.stop()
    assert sorted(recorder.handled) == sorted(produced.refs)
    handled_bad = [seq for seq in recorder.by_lane[bad_lane] if seq]
    assert handled_bad == list(range(1, 10))  # the lane resumed in order
    assert await committed(admin, group) == produced.end


async def test_graceful_stop_commits_what_was_completed(
    infra: Infra, admin: AIOKafkaAdminClient
) -> None:
    produced = await produce(infra, admin, lanes=60, per_lane=10, name="graceful")
    group = f"g-{uuid.uuid4().hex[:8]}"

    async def work(record: ConsumedRecord) -> None:
        await asyncio.sleep(0.1)

    first = Recorder(work)
    # A small in-flight cap, so the first consumer has fetched only part of the topic.
    stopping = make_consumer(infra, produced.topic, group, first, max_in_flight=100)
    await stopping.start()
    await wait_until(lambda: len(first.handled) >= 100, 20, "100 records")
    assert stopping.in_flight > 0  # stopping mid-flight
    await stopping.stop()
    assert stopping.in_flight == 0

    second = Recorder(work)
    successor = make_consumer(infra, produced.topic, group, second)
    await successor.start()
    try:
        await wait_until(lambda: first.refs() | second.refs() == set(produced.refs), 20, "the rest")
        await asyncio.sleep(0.3)  # anything redelivered would show up now
    finally:
        await successor.stop()
    assert not first.refs() & second.refs(), "a completed record was delivered again"
    assert len(first.handled) + len(second.handled) == len(produced.refs)


async def test_rebalance_hands_partitions_over_without_overlap(
    infra: Infra, admin: AIOKafkaAdminClient
) -> None:
    produced = await produce(infra, admin, lanes=90, per_lane=10, name="rebalance")
    group = f"g-{uuid.uuid4().hex[:8]}"

    async def work(record: ConsumedRecord) -> None:
        await asyncio.sleep(0.03)

    # One recorder for both members: a lane running on both at once counts as an overlap.
    recorder = Recorder(work)
    alpha = make_consumer(infra, produced.topic, group, recorder, max_in_flight=60)
    beta = make_consumer(infra, produced.topic, group, recorder, max_in_flight=60)
    await alpha.start()
    try:
        await wait_until(lambda: len(recorder.handled) >= 60, 20, "alpha to get going")
        assert alpha.assignment == {(produced.topic, p) for p in range(PARTITIONS)}
        await beta.start()
        await wait_until(
            lambda: bool(beta.assignment) and len(alpha.assignment | beta.assignment) == PARTITIONS,
            15,
            "the partitions to be shared",
        )
        assert alpha.assignment
        assert beta.assignment
        assert not alpha.assignment & beta.assignment
        assert await alpha.ping()
        assert await beta.ping()
        await wait_until(lambda: recorder.refs() == set(produced.refs), 20, "all records")
    finally:
        await asyncio.gather(alpha.stop(), beta.stop())
    assert recorder.lane_overlaps == 0
    for seqs in recorder.by_lane.values():
        first_seen = list(dict.fromkeys(seqs))  # redeliveries may repeat; order may not break
        assert first_seen == sorted(first_seen)
    assert await committed(admin, group) == produced.end
    print(f"\nrebalance: {len(recorder.handled) - len(produced.refs)} redelivered duplicates")


async def test_an_idle_consumer_fetches_long_yet_takes_the_next_record_and_stops_at_once(
    infra: Infra, admin: AIOKafkaAdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "QUIET_BEFORE_IDLE_S", 0.5)
    produced = await produce(infra, admin, lanes=3, per_lane=2, name="idle")
    recorder = Recorder(lambda record: asyncio.sleep(0))
    consumer = make_consumer(infra, produced.topic, f"g-{uuid.uuid4().hex[:8]}", recorder)
    await consumer.start()
    try:
        await wait_until(lambda: recorder.refs() == set(produced.refs), 20, "the first records")
        # The real aiokafka fetcher takes the idle waits (the attributes FetchPacing sets).
        fetcher = consumer._consumer._fetcher
        await long_fetch_in_flight(fetcher)
        sent = time.perf_counter()
        later = await produce_more(infra, produced.topic, "lane-0:9")
        await wait_until(lambda: later in recorder.refs(), 20, "the record sent while idle")
        waited = recorder.last_end - sent
        busy_again = fetcher._fetch_max_wait_ms
        await long_fetch_in_flight(fetcher)
        stopping = time.perf_counter()
        await consumer.stop()  # with a long fetch in flight
        stopped_in = time.perf_counter() - stopping
    finally:
        await consumer.stop()
    assert waited < polling.IDLE_FETCH_WAIT_MS / 1000 / 2, f"the record waited {waited:.2f} s"
    assert busy_again == polling.FETCH_MAX_WAIT_MS
    assert stopped_in < polling.IDLE_FETCH_WAIT_MS / 1000 / 2, f"stopping took {stopped_in:.2f} s"


async def produce_more(infra: Infra, topic: str, value: str) -> Ref:
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await producer.start()
    try:
        meta = await producer.send_and_wait(
            topic, value.encode(), key=value.split(":", maxsplit=1)[0].encode()
        )
    finally:
        await producer.stop()
    return meta.partition, meta.offset

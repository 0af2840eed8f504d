"""The concurrent consumer's bookkeeping, without Kafka.

Pure parts (watermark, lane scheduler, retry loop) are tested directly, with hypothesis for
the watermark; the wiring is tested against a small in-memory stand-in for aiokafka. The
same behaviour runs against the real broker in tests/integration/test_consumer_real.py.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest
from aiokafka.errors import ConsumerStoppedError, IllegalStateError
from aiokafka.structs import TopicPartition
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from jobcast.kafka import (
    ConcurrentConsumer,
    ConsumedRecord,
    LaneScheduler,
    OffsetWatermark,
    lane_by_key,
    lane_turn,
    release_lane,
)
from jobcast.kafka.retry import call_until_success

TP = tuple[str, int]

# ---------------------------------------------------------------- OffsetWatermark


def test_watermark_is_none_before_anything_is_fetched() -> None:
    mark = OffsetWatermark()
    assert mark.watermark is None
    assert mark.to_commit() is None
    assert mark.in_flight == 0


def test_watermark_stops_at_the_lowest_unfinished_offset() -> None:
    mark = OffsetWatermark()
    for offset in range(10, 15):
        mark.add(offset)
    assert mark.watermark == 10
    mark.complete(12)
    mark.complete(11)
    assert mark.watermark == 10  # 10 is still running: nothing may be committed past it
    mark.complete(10)
    assert mark.watermark == 13
    mark.complete(14)
    assert mark.watermark == 13
    mark.complete(13)
    assert mark.watermark == 15
    assert mark.in_flight == 0


def test_watermark_skips_offset_gaps() -> None:
    # Compaction and transaction markers leave holes in a partition's offsets.
    mark = OffsetWatermark()
    for offset in (3, 7, 8):
        mark.add(offset)
    mark.complete(7)
    assert mark.watermark == 3
    mark.complete(3)
    assert mark.watermark == 8
    mark.complete(8)
    assert mark.watermark == 9


def test_watermark_rejects_misuse() -> None:
    mark = OffsetWatermark()
    mark.add(5)
    with pytest.raises(ValueError, match="out of order"):
        mark.add(5)
    with pytest.raises(ValueError, match="not in flight"):
        mark.complete(4)
    mark.complete(5)
    with pytest.raises(ValueError, match="not in flight"):
        mark.complete(5)


def test_commit_is_due_only_when_the_watermark_advanced() -> None:
    mark = OffsetWatermark()
    mark.add(100)  # fetching resumed at the committed offset 100
    mark.add(101)
    assert mark.committed == 100
    assert mark.to_commit() is None  # 100 is what the group has already
    mark.complete(101)
    assert mark.to_commit() is None  # out of order: still stuck below 100
    mark.complete(100)
    assert mark.to_commit() == 102
    mark.mark_committed(102)
    assert mark.to_commit() is None
    mark.mark_committed(50)  # a stale, late acknowledgement never moves it back
    assert mark.committed == 102


@st.composite
def offsets_and_completion_order(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    start = draw(st.integers(min_value=0, max_value=10**12))
    gaps = draw(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=80))
    offsets = list(itertools.accumulate(gaps, initial=start))[1:]
    return offsets, draw(st.permutations(offsets))


@settings(max_examples=300)
@given(offsets_and_completion_order(), st.data())
def test_watermark_never_passes_an_unfinished_offset(
    case: tuple[list[int], list[int]], data: st.DataObject
) -> None:
    offsets, completion = case
    mark = OffsetWatermark()
    added: list[int] = []
    done: set[int] = set()
    pending_adds = list(offsets)
    pending_done = list(completion)
    # Interleave fetching and completing, as the consumer does.
    while pending_adds or pending_done:
        ready = [o for o in pending_done if o in added]
        if pending_adds and (not ready or data.draw(st.booleans())):
            offset = pending_adds.pop(0)
            mark.add(offset)
            added.append(offset)
        else:
            offset = ready[0]
            pending_done.remove(offset)
            mark.complete(offset)
            done.add(offset)
        unfinished = [o for o in added if o not in done]
        watermark = mark.watermark
        assert watermark is not None
        # Safe: every added offset below the watermark is done...
        assert all(o in done for o in added if o < watermark)
        # ...and tight: it is exactly the first unfinished one (or one past the last).
        assert watermark == (min(unfinished) if unfinished else added[-1] + 1)
        assert mark.in_flight == len(unfinished)
    assert mark.watermark == offsets[-1] + 1


# ---------------------------------------------------------------- LaneScheduler


def test_one_lane_runs_strictly_in_order_other_lanes_run_alongside() -> None:
    lanes: LaneScheduler[int] = LaneScheduler()
    assert lanes.submit("a", 1) is True
    assert lanes.submit("a", 2) is False
    assert lanes.submit("b", 10) is True  # another lane is not held up by "a"
    assert lanes.submit("a", 3) is False
    assert (lanes.running, lanes.waiting) == (2, 2)
    assert lanes.finish("a", 1) == 2
    assert lanes.finish("a", 2) == 3
    assert lanes.finish("a", 3) is None
    assert lanes.finish("b", 10) is None
    assert (lanes.running, lanes.waiting) == (0, 0)


def test_lane_concurrency_allows_k_at_a_time_still_starting_in_order() -> None:
    lanes: LaneScheduler[int] = LaneScheduler(concurrency=2)
    assert [lanes.submit("a", n) for n in range(5)] == [True, True, False, False, False]
    assert lanes.finish("a", 1) == 2  # either may finish first
    assert lanes.finish("a", 0) == 3
    assert lanes.running == 2
    assert lanes.holding_turn("a") == [2, 3]


def test_items_ahead_start_but_take_their_turns_in_order() -> None:
    lanes: LaneScheduler[int] = LaneScheduler(ahead=2)
    assert [lanes.submit("a", n) for n in range(5)] == [True, True, True, False, False]
    assert [lanes.has_turn("a", n) for n in range(3)] == [True, False, False]
    # One ahead finishing first (it gave up before its turn) passes nothing on.
    assert lanes.finish("a", 2) == 3
    assert lanes.holding_turn("a") == [0]
    assert lanes.finish("a", 0) == 4
    assert lanes.holding_turn("a") == [1]
    assert lanes.has_turn("b", 7) is False  # a lane with nothing running
    with pytest.raises(ValueError, match="not running"):
        lanes.finish("a", 0)
    with pytest.raises(ValueError, match="fewer than 0"):
        LaneScheduler(ahead=-1)


def test_drop_removes_only_waiting_items() -> None:
    lanes: LaneScheduler[tuple[str, int]] = LaneScheduler()
    for item in [("p0", 1), ("p1", 2), ("p0", 3), ("p1", 4)]:
        lanes.submit("a", item)
    assert lanes.drop(lambda item: item[0] == "p0") == [("p0", 3)]
    first = lanes.finish("a", ("p0", 1))
    assert first == ("p1", 2)
    following = lanes.finish("a", first)
    assert following == ("p1", 4)
    assert lanes.finish("a", following) is None
    with pytest.raises(ValueError, match="at least 1"):
        LaneScheduler(concurrency=0)


@settings(max_examples=300)
@given(
    st.lists(st.tuples(st.sampled_from("abc"), st.integers(min_value=0, max_value=3)), max_size=60),
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=0, max_value=2),
)
def test_scheduler_keeps_per_lane_order_limit_and_turns(
    script: list[tuple[str, int]], concurrency: int, ahead: int
) -> None:
    """Each step submits an item (0) or finishes one of the lane's running items (any of
    them: one ahead may give up before its turn)."""
    lanes: LaneScheduler[int] = LaneScheduler(concurrency, ahead)
    running: dict[str, list[int]] = defaultdict(list)
    started: dict[str, list[int]] = defaultdict(list)
    submitted: dict[str, list[int]] = defaultdict(list)

    def start(lane: str, item: int) -> None:
        running[lane].append(item)
        started[lane].append(item)

    for n, (lane, action) in enumerate(script):
        if action and running[lane]:
            item = running[lane].pop((action - 1) % len(running[lane]))
            following = lanes.finish(lane, item)
            if following is not None:
                start(lane, following)
        else:
            submitted[lane].append(n)
            if lanes.submit(lane, n):
                start(lane, n)
        for name, items in running.items():
            assert len(items) <= concurrency + ahead
            # The turn: the earliest started, unfinished items, `concurrency` of them.
            assert lanes.holding_turn(name) == items[:concurrency]
            assert [lanes.has_turn(name, i) for i in items] == [
                k < concurrency for k in range(len(items))
            ]
    for lane, items in started.items():
        assert items == submitted[lane][: len(items)]


def test_default_lane_is_the_key_or_else_the_partition() -> None:
    def record(key: bytes | None, partition: int) -> ConsumedRecord:
        return ConsumedRecord("t", partition, 0, key, b"", (), 0)

    assert lane_by_key(record(b"acct-1", 0)) == lane_by_key(record(b"acct-1", 2))
    assert lane_by_key(record(b"acct-1", 0)) != lane_by_key(record(b"acct-2", 0))
    assert lane_by_key(record(None, 0)) != lane_by_key(record(None, 1))


# ---------------------------------------------------------------- retries


async def test_failures_back_off_then_repeat_the_last_delay_forever() -> None:
    slept: list[float] = []
    failures: list[tuple[int, float]] = []
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls <= 7:
            raise ConnectionError("graph api down")

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts = await call_until_success(
        flaky,
        (0.2, 0.5, 1, 2, 5),
        on_failure=lambda attempt, delay: failures.append((attempt, delay)),
        sleep=fake_sleep,
    )
    assert attempts == 8
    assert slept == [0.2, 0.5, 1, 2, 5, 5, 5]
    assert [a for a, _ in failures] == list(range(1, 8))


async def test_cancellation_is_not_retried() -> None:
    async def cancelled() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await call_until_success(cancelled, (0,), on_failure=lambda *_: None)
    with pytest.raises(ValueError, match="retry delay"):
        await call_until_success(cancelled, (), on_failure=lambda *_: None)


# ---------------------------------------------------------------- the wiring, on a fake broker


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp: int = 0


class FakeKafka:
    """Just enough of AIOKafkaConsumer: partitions, positions, pause, commits, rebalances."""

    def __init__(self, logs: dict[TP, list[FakeRecord]], assigned: Iterable[TP]) -> None:
        self.logs = logs
        self.assigned: set[TP] = set(assigned)
        self.positions: dict[TP, int] = {}
        self.committed: dict[TP, int] = {}
        self.commits: list[dict[TP, int]] = []
        self.paused_tps: set[TP] = set()
        self.asked: list[int | None] = []
        self.listener: Any = None
        self.rebalancing = False
        self.stopped = False

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    async def start(self) -> None:
        await self._assign(self.assigned)

    async def _assign(self, tps: Iterable[TP]) -> None:
        self.assigned = set(tps)
        self.paused_tps.clear()
        self.positions = {tp: self.committed.get(tp, 0) for tp in self.assigned}
        await self.listener.on_partitions_assigned({TopicPartition(*tp) for tp in tps})
        self.rebalancing = False

    async def rebalance(self, new: Iterable[TP]) -> None:
        self.rebalancing = True  # like aiokafka: no records while reassigning
        await self.listener.on_partitions_revoked({TopicPartition(*tp) for tp in self.assigned})
        await self._assign(new)

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(*tp) for tp in self.assigned}

    def paused(self) -> set[TopicPartition]:
        return {TopicPartition(*tp) for tp in self.paused_tps}

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_tps |= {(tp.topic, tp.partition) for tp in tps}

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_tps -= {(tp.topic, tp.partition) for tp in tps}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[(tp.topic, tp.partition)] = offset

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.logs[(tp.topic, tp.partition)])

    async def getmany(
        self, *partitions: TopicPartition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[TopicPartition, list[FakeRecord]]:
        if self.stopped:
            raise ConsumerStoppedError
        self.asked.append(max_records)
        budget = max_records or 500
        wanted = {(tp.topic, tp.partition) for tp in partitions} or self.assigned
        out: dict[TopicPartition, list[FakeRecord]] = {}
        if not self.rebalancing:
            for tp in sorted((self.assigned & wanted) - self.paused_tps):
                position = self.positions[tp]
                records = self.logs[tp][position : position + min(budget, 7)]
                if records:
                    out[TopicPartition(*tp)] = records
                    self.positions[tp] = position + len(records)
                    budget -= len(records)
                if budget == 0:
                    break
        if not out:
            await asyncio.sleep(min(timeout_ms, 10) / 1000)
        return out

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        plain = {(tp.topic, tp.partition): offset for tp, offset in offsets.items()}
        for tp in plain:
            if tp not in self.assigned:
                raise IllegalStateError(f"Partition {tp} is not assigned")
        self.commits.append(plain)
        self.committed.update(plain)

    async def stop(self) -> None:
        self.stopped = True


def make_logs(partitions: int, per_partition: int, keys: int) -> dict[TP, list[FakeRecord]]:
    return {
        ("t", p): [
            FakeRecord("t", p, o, f"k{(o * partitions + p) % keys}".encode(), f"{p}/{o}".encode())
            for o in range(per_partition)
        ]
        for p in range(partitions)
    }


def consumer_on(
    fake: FakeKafka, handle: Callable[[ConsumedRecord], Awaitable[None]], **options: Any
) -> ConcurrentConsumer:
    class OnFake(ConcurrentConsumer):
        def _make_consumer(self) -> Any:
            return fake

    options.setdefault("commit_interval_s", 0.02)
    options.setdefault("group_id", f"unit-{uuid.uuid4().hex[:8]}")
    return OnFake(bootstrap_servers="fake:9092", topics=["t"], handle=handle, **options)


async def wait_until(condition: Callable[[], bool], within: float = 5.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.005)


async def test_every_record_once_lanes_in_order_and_concurrent() -> None:
    fake = FakeKafka(
        make_logs(partitions=3, per_partition=40, keys=12), [("t", p) for p in range(3)]
    )
    seen: dict[str, list[int]] = defaultdict(list)
    active: dict[str, int] = defaultdict(int)
    peak_lane = peak_total = 0

    async def handle(record: ConsumedRecord) -> None:
        nonlocal peak_lane, peak_total
        lane = lane_by_key(record)
        active[lane] += 1
        peak_lane = max(peak_lane, active[lane])
        peak_total = max(peak_total, sum(active.values()))
        await asyncio.sleep(0.002)
        seen[lane].append(record.partition * 1000 + record.offset)
        active[lane] -= 1

    consumer = consumer_on(fake, handle)
    await consumer.start()
    await wait_until(lambda: sum(map(len, seen.values())) == 120)
    await consumer.stop()
    assert peak_lane == 1
    assert peak_total > 1
    for handled in seen.values():
        assert len(set(handled)) == len(handled)
        # A key lives in several partitions here; within each one, offsets ascend.
        for p in range(3):
            mine = [h for h in handled if h // 1000 == p]
            assert mine == sorted(mine)
    assert fake.committed == {("t", p): 40 for p in range(3)}


async def test_backpressure_caps_in_flight_records() -> None:
    fake = FakeKafka(make_logs(partitions=2, per_partition=30, keys=60), [("t", 0), ("t", 1)])
    release = asyncio.Event()
    started = 0

    async def handle(record: ConsumedRecord) -> None:
        nonlocal started
        started += 1
        await release.wait()

    consumer = consumer_on(fake, handle, max_in_flight=5)
    await consumer.start()
    await wait_until(lambda: consumer.in_flight == 5)
    polls = len(fake.asked)
    await asyncio.sleep(0.1)  # give it every chance to over-fetch
    assert consumer.in_flight == 5
    assert started == 5
    assert len(fake.asked) == polls  # full: no polling at all
    assert all(asked is not None and asked <= 5 for asked in fake.asked)
    release.set()
    await wait_until(lambda: fake.committed == {("t", 0): 30, ("t", 1): 30})
    assert started == 60  # nothing was skipped by the cap
    await consumer.stop()


async def test_full_for_long_still_polls_paused_to_stay_in_the_group() -> None:
    fake = FakeKafka(make_logs(partitions=2, per_partition=30, keys=60), [("t", 0), ("t", 1)])
    release = asyncio.Event()

    async def handle(record: ConsumedRecord) -> None:
        await release.wait()

    consumer = consumer_on(fake, handle, max_in_flight=5)
    consumer._keepalive_after_s = 0.0  # instead of 30 s
    await consumer.start()
    await wait_until(lambda: None in fake.asked)  # a keep-alive poll happened...
    assert fake.paused_tps == {("t", 0), ("t", 1)}  # ...of paused partitions
    assert consumer.in_flight == 5
    release.set()
    await wait_until(lambda: fake.committed == {("t", 0): 30, ("t", 1): 30})
    assert not fake.paused_tps  # resumed once there was room
    await consumer.stop()


async def test_records_over_the_cap_are_put_back_not_dropped() -> None:
    class IgnoresPause(FakeKafka):
        # Like a fresh assignment during a keep-alive poll: records come back regardless.
        def pause(self, *tps: TopicPartition) -> None:
            pass

    fake = IgnoresPause(make_logs(partitions=2, per_partition=30, keys=60), [("t", 0), ("t", 1)])
    release = asyncio.Event()
    started: list[tuple[int, int]] = []

    async def handle(record: ConsumedRecord) -> None:
        started.append((record.partition, record.offset))
        await release.wait()

    consumer = consumer_on(fake, handle, max_in_flight=5)
    consumer._keepalive_after_s = 0.0
    await consumer.start()
    await wait_until(lambda: fake.asked.count(None) >= 2)  # keep-alive polls returned records
    assert consumer.in_flight == 5
    release.set()
    await wait_until(lambda: fake.committed == {("t", 0): 30, ("t", 1): 30})
    assert sorted(started) == [(p, o) for p in range(2) for o in range(30)]  # each once
    await consumer.stop()


async def test_one_partitions_backlog_does_not_take_every_slot() -> None:
    # Partition 0: one busy lane; partition 1: many lanes. Both get a share of the slots.
    logs = {
        ("t", 0): [FakeRecord("t", 0, o, b"busy", b"") for o in range(50)],
        ("t", 1): [FakeRecord("t", 1, o, b"k%d" % o, b"") for o in range(50)],
    }
    fake = FakeKafka(logs, [("t", 0), ("t", 1)])
    done: list[int] = []

    async def handle(record: ConsumedRecord) -> None:
        await asyncio.sleep(0.005)
        done.append(record.partition)

    consumer = consumer_on(fake, handle, max_in_flight=10)
    await consumer.start()
    await wait_until(lambda: done.count(1) == 50)
    assert done.count(0) < 25  # partition 1 was not starved behind the busy lane
    await wait_until(lambda: len(done) == 100)
    await consumer.stop()


async def test_out_of_order_completion_never_commits_past_an_unfinished_record() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=10, keys=10), [("t", 0)])
    release = asyncio.Event()

    async def handle(record: ConsumedRecord) -> None:
        if record.offset == 3:
            await release.wait()

    consumer = consumer_on(fake, handle)
    await consumer.start()
    await wait_until(lambda: consumer.in_flight == 1)
    await asyncio.sleep(0.1)  # several commit ticks
    assert fake.committed == {("t", 0): 3}
    assert all(commit[("t", 0)] <= 3 for commit in fake.commits)
    release.set()
    await wait_until(lambda: fake.committed == {("t", 0): 10})
    await consumer.stop()


async def test_an_idle_consumer_stops_ticking_and_commits_its_next_record_at_once() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=3, keys=3), [("t", 0)])
    looks: list[TopicPartition] = []  # the commit loop reads the end offset on each pass
    end_of = fake.highwater

    def highwater(tp: TopicPartition) -> int:
        looks.append(tp)
        return end_of(tp)

    fake.highwater = highwater  # type: ignore[method-assign]

    async def handle(record: ConsumedRecord) -> None:
        return None

    consumer = consumer_on(fake, handle)  # a pass every 0.02 s while records finish
    await consumer.start()
    await wait_until(lambda: fake.committed == {("t", 0): 3})
    await asyncio.sleep(0.05)
    looks.clear()
    await asyncio.sleep(0.3)
    assert len(looks) <= 1
    fake.logs[("t", 0)].append(FakeRecord("t", 0, 3, b"k", b"v"))
    await wait_until(lambda: fake.committed == {("t", 0): 4}, within=1.0)
    await consumer.stop()


async def test_a_failing_lane_retries_in_place_while_other_lanes_flow() -> None:
    logs = {
        ("t", 0): [
            FakeRecord("t", 0, o, b"bad" if o in (0, 5) else b"ok%d" % o, b"") for o in range(10)
        ]
    }
    fake = FakeKafka(logs, [("t", 0)])
    done: list[int] = []
    healthy = asyncio.Event()

    async def handle(record: ConsumedRecord) -> None:
        if record.key == b"bad" and not healthy.is_set():
            raise ConnectionError("account's token is being refreshed")
        done.append(record.offset)

    group = f"unit-{uuid.uuid4().hex[:8]}"
    consumer = consumer_on(fake, handle, retry_delays=(0.01, 0.02), group_id=group)
    await consumer.start()
    await wait_until(lambda: len(done) == 8)
    assert sorted(done) == [1, 2, 3, 4, 6, 7, 8, 9]
    await asyncio.sleep(0.05)
    failures = REGISTRY.get_sample_value(
        "jobcast_consumer_handler_failures_total", {"group": group, "topic": "t"}
    )
    assert failures is not None
    assert failures >= 2
    assert fake.committed.get(("t", 0), 0) == 0  # offset 0 is still not done
    healthy.set()
    await wait_until(lambda: len(done) == 10)
    assert done[-2:] == [0, 5]  # the bad lane resumes in its own order
    await wait_until(lambda: fake.committed == {("t", 0): 10})
    await consumer.stop()


async def test_revoke_drains_commits_and_forgets_the_partition() -> None:
    fake = FakeKafka(make_logs(partitions=2, per_partition=20, keys=40), [("t", 0), ("t", 1)])
    handled: list[tuple[int, int]] = []

    async def handle(record: ConsumedRecord) -> None:
        await asyncio.sleep(0.01)
        handled.append((record.partition, record.offset))

    consumer = consumer_on(fake, handle, commit_interval_s=10)  # only the revoke commits
    await consumer.start()
    await wait_until(lambda: consumer.in_flight > 0)
    await fake.rebalance([("t", 1)])
    # Everything fetched from partition 0 finished inside the revoke and was committed.
    assert fake.commits
    p0_done = sorted(o for p, o in handled if p == 0)
    assert fake.committed[("t", 0)] == len(p0_done) == p0_done[-1] + 1
    assert consumer.assignment == {("t", 1)}
    commits_before = len(fake.commits)
    await wait_until(lambda: sum(p == 1 for p, _ in handled) == 20)
    await consumer.stop()
    # Later commits (here: the one at stop) never name the partition we lost.
    assert all(("t", 0) not in commit for commit in fake.commits[commits_before:])
    assert fake.committed[("t", 1)] == 20


async def test_revoke_is_bounded_and_cancels_a_stuck_handler() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=5, keys=5), [("t", 0)])
    cancelled: list[int] = []

    async def handle(record: ConsumedRecord) -> None:
        if record.offset == 2:
            try:
                await asyncio.Event().wait()  # hangs
            except asyncio.CancelledError:
                cancelled.append(record.offset)
                raise

    consumer = consumer_on(fake, handle, revoke_timeout_s=0.2, commit_interval_s=10)
    await consumer.start()
    await wait_until(lambda: consumer.in_flight == 1)
    started = asyncio.get_running_loop().time()
    await fake.rebalance([])
    assert asyncio.get_running_loop().time() - started < 1
    assert cancelled == [2]
    assert fake.committed == {("t", 0): 2}  # the stuck record will be redelivered
    assert consumer.in_flight == 0
    await consumer.stop()


async def test_stop_waits_for_in_flight_then_cancels_after_the_grace_period() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=6, keys=6), [("t", 0)])
    finished: list[int] = []

    async def handle(record: ConsumedRecord) -> None:
        await asyncio.sleep(0.05 if record.offset != 4 else 60)
        finished.append(record.offset)

    consumer = consumer_on(fake, handle, commit_interval_s=10)
    await consumer.start()
    await wait_until(lambda: consumer.in_flight == 6)
    await consumer.stop(timeout=0.5)
    assert sorted(finished) == [0, 1, 2, 3, 5]
    assert fake.committed == {("t", 0): 4}
    assert fake.stopped
    assert await consumer.ping() is False


async def test_abort_commits_nothing() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=50, keys=5), [("t", 0)])

    async def handle(record: ConsumedRecord) -> None:
        await asyncio.sleep(0.005)

    consumer = consumer_on(fake, handle, commit_interval_s=10)
    await consumer.start()
    assert await consumer.ping() is True
    await wait_until(lambda: consumer.in_flight > 0)
    await consumer.abort()
    assert fake.commits == []
    assert fake.stopped
    assert consumer.in_flight == 0


async def test_a_handler_that_swallows_cancellation_is_not_counted_as_done() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=3, keys=3), [("t", 0)])

    async def stubborn(record: ConsumedRecord) -> None:
        if record.offset == 1:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                return  # pretends it finished

    consumer = consumer_on(fake, stubborn, commit_interval_s=10)
    await consumer.start()
    await wait_until(lambda: consumer.in_flight == 1)
    await consumer.stop(timeout=0.1)
    assert fake.committed == {("t", 0): 1}  # offset 1 is redelivered, not skipped


async def test_a_broken_lane_function_falls_back_to_the_default_lane() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=5, keys=5), [("t", 0)])
    handled: list[int] = []

    async def handle(record: ConsumedRecord) -> None:
        handled.append(record.offset)

    def lane_of(record: ConsumedRecord) -> str:
        if record.offset == 2:
            raise KeyError("no account id")
        return lane_by_key(record)

    consumer = consumer_on(fake, handle, lane_of=lane_of)
    await consumer.start()
    await wait_until(lambda: fake.committed == {("t", 0): 5})
    await consumer.stop()
    assert sorted(handled) == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- poison records and stalls


class DataError(ValueError):
    """Like asyncpg's DataError: a value the database refuses, on every try."""


async def test_call_until_success_raises_what_retry_if_refuses() -> None:
    calls = 0

    async def poisoned() -> None:
        nonlocal calls
        calls += 1
        raise DataError("out of int32 range") if calls > 1 else ConnectionResetError()

    async def no_sleep(_: float) -> None:
        pass

    with pytest.raises(DataError):
        await call_until_success(
            poisoned,
            (0,),
            on_failure=lambda *_: None,
            sleep=no_sleep,
            retry_if=lambda exc: isinstance(exc, OSError),
        )
    assert calls == 2  # the connection reset was retried, the bad value was not


async def test_a_poison_record_is_handed_to_on_poison_and_its_lane_goes_on() -> None:
    records = [FakeRecord("t", 0, o, b"same-lane", f"{o}".encode()) for o in range(6)]
    fake = FakeKafka({("t", 0): records}, [("t", 0)])
    handled: list[int] = []
    tries: dict[int, int] = defaultdict(int)
    poisoned: list[tuple[int, str]] = []

    async def handle(record: ConsumedRecord) -> None:
        tries[record.offset] += 1
        if record.offset == 2:
            raise DataError("value out of int32 range")
        handled.append(record.offset)

    async def on_poison(record: ConsumedRecord, exc: BaseException) -> None:
        poisoned.append((record.offset, type(exc).__name__))

    consumer = consumer_on(fake, handle, on_poison=on_poison, retry_delays=(0.01,))
    await consumer.start()
    await wait_until(lambda: fake.committed == {("t", 0): 6})
    await consumer.stop()
    assert handled == [0, 1, 3, 4, 5]  # the same lane carried on, in order
    assert poisoned == [(2, "DataError")]
    assert tries[2] == 1  # not retried: it would fail the same way every time


async def test_infrastructure_failures_are_retried_in_place_even_with_on_poison() -> None:
    fake = FakeKafka({("t", 0): [FakeRecord("t", 0, 0, b"k", b"v")]}, [("t", 0)])
    tries = 0
    poisoned: list[int] = []

    async def handle(record: ConsumedRecord) -> None:
        nonlocal tries
        tries += 1
        if tries < 4:
            raise ConnectionRefusedError(111, "Connection refused")

    async def on_poison(record: ConsumedRecord, exc: BaseException) -> None:
        poisoned.append(record.offset)

    consumer = consumer_on(fake, handle, on_poison=on_poison, retry_delays=(0.01,))
    await consumer.start()
    await wait_until(lambda: fake.committed == {("t", 0): 1})
    await consumer.stop()
    assert tries == 4
    assert poisoned == []


async def test_on_poison_failing_on_infrastructure_is_retried_until_it_succeeds() -> None:
    fake = FakeKafka({("t", 0): [FakeRecord("t", 0, 0, b"k", b"v")]}, [("t", 0)])
    parked: list[int] = []

    async def handle(record: ConsumedRecord) -> None:
        raise DataError("bad")

    async def on_poison(record: ConsumedRecord, exc: BaseException) -> None:
        parked.append(record.offset)
        if len(parked) < 3:
            raise ConnectionResetError  # the dead-letter topic's broker away for a moment

    consumer = consumer_on(fake, handle, on_poison=on_poison, retry_delays=(0.01,))
    await consumer.start()
    await wait_until(lambda: fake.committed == {("t", 0): 1})
    await consumer.stop()
    assert parked == [0, 0, 0]


async def test_a_null_header_value_is_handed_over_not_a_stalled_fetch() -> None:
    odd = FakeRecord("t", 0, 0, b"k", b"v", headers=(("x-correlation-id", None), ("b", b"\xff")))
    fake = FakeKafka({("t", 0): [odd, FakeRecord("t", 0, 1, b"k", b"w")]}, [("t", 0)])
    seen: list[ConsumedRecord] = []

    async def handle(record: ConsumedRecord) -> None:
        seen.append(record)

    consumer = consumer_on(fake, handle)
    await consumer.start()
    await wait_until(lambda: fake.committed == {("t", 0): 2})
    await consumer.stop()
    assert seen[0].headers == (("x-correlation-id", None), ("b", b"\xff"))


async def test_a_handler_failing_for_longer_than_the_stall_time_is_reported_stalled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from jobcast.stalls import STALLS

    monkeypatch.setattr(STALLS, "stall_seconds", 0.2)
    fake = FakeKafka({("t", 0): [FakeRecord("t", 0, 0, b"k", b"v")]}, [("t", 0)])
    database_up = asyncio.Event()

    async def handle(record: ConsumedRecord) -> None:
        if not database_up.is_set():
            raise ConnectionRefusedError(111, "Connection refused")

    consumer = consumer_on(fake, handle, retry_delays=(0.02,), group_id="unit-stalled")
    await consumer.start()

    def stalled() -> list[str]:
        return [f"{s.group}/{s.topic}/{s.error}" for s in STALLS.stalls()]

    await wait_until(lambda: stalled() == ["unit-stalled/t/ConnectionRefusedError"])
    assert stalled_gauge("unit-stalled") == 1
    database_up.set()
    await wait_until(lambda: fake.committed == {("t", 0): 1})
    assert stalled() == []
    assert stalled_gauge("unit-stalled") == 0
    await consumer.stop()


def stalled_gauge(group: str) -> float | None:
    return REGISTRY.get_sample_value("jobcast_consumer_stalled", {"group": group, "topic": "t"})


async def test_a_handler_that_releases_its_lane_lets_the_next_start_but_holds_the_offset() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=3, keys=1), [("t", 0)])
    finish_first = asyncio.Event()
    started: list[int] = []

    async def handle(record: ConsumedRecord) -> None:
        started.append(record.offset)
        if record.offset == 0:
            release_lane()
            release_lane()  # a second call changes nothing
            await finish_first.wait()

    consumer = consumer_on(fake, handle)
    await consumer.start()
    # One key, one lane: without the release the others would wait for offset 0.
    await wait_until(lambda: started == [0, 1, 2])
    await asyncio.sleep(0.1)  # several commit ticks
    assert fake.committed.get(("t", 0), 0) == 0  # offset 0 is still being handled
    finish_first.set()
    await wait_until(lambda: fake.committed == {("t", 0): 3})
    await consumer.stop()


async def test_a_lane_is_not_released_by_default_nor_outside_a_handler() -> None:
    release_lane()  # no handler running: nothing to release, no error
    async with asyncio.timeout(1):
        await lane_turn()  # nor a turn to wait for
    fake = FakeKafka(make_logs(partitions=1, per_partition=3, keys=1), [("t", 0)])
    finish_first = asyncio.Event()
    started: list[int] = []

    async def handle(record: ConsumedRecord) -> None:
        started.append(record.offset)
        if record.offset == 0:
            await finish_first.wait()

    consumer = consumer_on(fake, handle)
    await consumer.start()
    await wait_until(lambda: started == [0])
    await asyncio.sleep(0.1)
    assert started == [0]
    finish_first.set()
    await wait_until(lambda: started == [0, 1, 2])
    await consumer.stop()


async def test_records_ahead_prepare_then_take_their_turns_in_offset_order() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=4, keys=1), [("t", 0)])
    events: list[str] = []
    hold_first = asyncio.Event()

    async def handle(record: ConsumedRecord) -> None:
        events.append(f"prepare {record.offset}")
        await lane_turn()
        events.append(f"turn {record.offset}")
        if record.offset == 0:
            await hold_first.wait()
        release_lane()
        await lane_turn()  # held or passed on: returns at once

    consumer = consumer_on(fake, handle, lane_ahead=2)
    await consumer.start()
    # One lane: offsets 1 and 2 start ahead while 0 holds the turn; 3 waits for a slot.
    await wait_until(lambda: len(events) == 4)
    await asyncio.sleep(0.05)
    assert events == ["prepare 0", "turn 0", "prepare 1", "prepare 2"]
    hold_first.set()
    await wait_until(lambda: fake.committed == {("t", 0): 4})
    await consumer.stop()
    assert [e for e in events if e.startswith("turn")] == [f"turn {n}" for n in range(4)]
    assert events.index("prepare 3") > events.index("turn 0")


async def test_a_record_ahead_that_finishes_before_its_turn_passes_nothing_on() -> None:
    fake = FakeKafka(make_logs(partitions=1, per_partition=3, keys=1), [("t", 0)])
    events: list[str] = []
    hold_first = asyncio.Event()

    async def handle(record: ConsumedRecord) -> None:
        if record.offset == 1:
            events.append("1 done without its turn")
            return
        await lane_turn()
        events.append(f"turn {record.offset}")
        if record.offset == 0:
            await hold_first.wait()

    consumer = consumer_on(fake, handle, lane_ahead=1)
    await consumer.start()
    await wait_until(lambda: "1 done without its turn" in events)
    await asyncio.sleep(0.05)
    assert events == ["turn 0", "1 done without its turn"]  # 2 waits: 0 holds the turn
    hold_first.set()
    await wait_until(lambda: fake.committed == {("t", 0): 3})
    await consumer.stop()
    assert events == ["turn 0", "1 done without its turn", "turn 2"]

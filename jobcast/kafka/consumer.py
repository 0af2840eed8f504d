"""A concurrent Kafka consumer with at-least-once offset commits.

Why not faststream's subscriber: it handles one record at a time, and its `max_workers` /
batch acks commit offsets of records that are still in flight, so a crash loses them. A
publisher spends ~200 ms per Graph API call and must work on many accounts at once, so this
consumer runs records concurrently *across lanes* (by default: the record key) and strictly
in offset order *within* a lane, while committing per partition only the watermark below
which every record is done. A lane may start a few records ahead of their turn
(`lane_ahead`): each does what does not decide the lane's order, then waits in
`lane_turn` until the records before it have released the lane.

What happens to a record whose handler fails is `jobcast.kafka.handling.settle`, as for
every consumer: a failure of infrastructure is retried in place (only its lane waits, a good
record is never skipped, and a record failing so for longer than JOBCAST_STALL_SECONDS
makes the consumer report itself stalled); any other failure would hold its lane and its
partition's watermark forever: given an `on_poison` hook (in the services:
`jobcast.kafka.dead_letters_for`), the consumer hands that one record to it (to the
dead-letter topic) and completes it, and the lane goes on.

The bookkeeping (`OffsetWatermark` in `watermark`, `LaneScheduler` in `lanes`) is pure and
tested without Kafka; `ConcurrentConsumer` wires it to aiokafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import ConsumerStoppedError, KafkaError
from aiokafka.structs import TopicPartition
from prometheus_client import Counter, Gauge

from jobcast.kafka.commits import COMMIT_INTERVAL_S
from jobcast.kafka.handling import settle
from jobcast.kafka.lanes import LaneScheduler, lane_by_key
from jobcast.kafka.polling import FetchPacing, consumer_waits
from jobcast.kafka.records import ConsumedRecord, consumed_record
from jobcast.kafka.retry import DEFAULT_RETRY_DELAYS
from jobcast.kafka.watermark import OffsetWatermark
from jobcast.stalls import STALLS

log = logging.getLogger(__name__)

# A partition as (topic, partition); aiokafka's TopicPartition is a NamedTuple of the same
# shape, so the two compare and hash equal and can key the same dicts.
TP = tuple[str, int]

# How often an idle consumer's commit loop looks anyway (see `_commit_loop`).
_IDLE_COMMIT_CHECK_S = 5.0

IN_FLIGHT = Gauge(
    "jobcast_consumer_in_flight",
    "Records fetched and not yet handled (running or waiting for their lane)",
    ["group"],
)
COMMITS = Counter(
    "jobcast_consumer_commits_total", "Offset commits that advanced a watermark", ["group"]
)
LAG = Gauge(
    "jobcast_consumer_lag",
    "Records behind: partition end offset minus the committed watermark",
    ["group", "topic", "partition"],
)
HANDLER_FAILURES = Counter(
    "jobcast_consumer_handler_failures_total",
    "Handler calls that raised and are retried in place",
    ["group", "topic"],
)


@dataclass(slots=True, eq=False)
class _Job:
    record: ConsumedRecord
    tp: TP
    lane: str
    tracker: OffsetWatermark
    cancel_requested: bool = False
    lane_released: bool = False  # the handler let its lane's next record start (release_lane)
    turn: asyncio.Future[None] | None = None  # set when the handler waits for its lane's turn


# The running handler's way to free its lane early (see `release_lane`); unset elsewhere.
_RELEASE: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "jobcast_lane_release", default=None
)


def release_lane() -> None:
    """Pass the running handler's lane turn on and let the lane's next record start now,
    before this handler returns: for a handler whose remaining work no longer decides the
    order the lane exists for (a publisher once its platform calls are made). The record's
    offset is still committed only when the handler is done. Outside a
    `ConcurrentConsumer` handler, and when called again, it does nothing."""
    release = _RELEASE.get()
    if release is not None:
        release()


# The running handler's way to wait for its lane's turn (see `lane_turn`); unset elsewhere.
_TURN: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = contextvars.ContextVar(
    "jobcast_lane_turn", default=None
)


async def lane_turn() -> None:
    """Wait until the running handler's record holds its lane's turn: the records before
    it in the lane have released it (`release_lane`) or finished. A consumer that starts
    records ahead of their turn (`lane_ahead`) runs what comes before this call while the
    record before it still holds the turn: work that does not decide the lane's order.
    Without records ahead, outside a `ConcurrentConsumer` handler, and once the turn is
    held, it returns at once."""
    turn = _TURN.get()
    if turn is not None:
        await turn()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, owner: ConcurrentConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: Iterable[Any]) -> None:
        await self._owner._on_revoked({(tp.topic, tp.partition) for tp in revoked})

    async def on_partitions_assigned(self, assigned: Iterable[Any]) -> None:
        self._owner._on_assigned({(tp.topic, tp.partition) for tp in assigned})


class ConcurrentConsumer:
    """Consume `topics` in group `group_id`, handling many lanes concurrently.

    Guarantees: records of one lane are started in offset order and take their turns
    (`lane_turn`) in that order, at most `lane_concurrency` holding the turn at a time
    (with `lane_ahead`, up to that many more start before their turn and wait for it
    there); at most `max_in_flight` records are fetched and unfinished (fetching stops
    when full); a handler failing on infrastructure is retried in place forever (only its
    lane waits; the consumer reports a stall to `jobcast.stalls` after
    JOBCAST_STALL_SECONDS); offsets are committed per partition only up to the lowest
    unfinished record, so a crash at any point means redelivery (at-least-once), never
    loss. Handlers must be idempotent.

    `on_poison(record, exc)`: called once for a record whose handler failed in a way no
    retry can change (`jobcast.failures.is_deterministic`), e.g. to dead-letter it; the
    record then counts as done (its offset may be committed). The hook itself is retried
    until it succeeds. Without it, every failure is retried in place forever.
    """

    # Stay a live group member while full for this long (well under max_poll_interval_ms).
    _keepalive_after_s = 30.0

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        topics: Sequence[str],
        group_id: str,
        handle: Callable[[ConsumedRecord], Awaitable[None]],
        lane_of: Callable[[ConsumedRecord], str] = lane_by_key,
        max_in_flight: int = 1000,
        lane_concurrency: int = 1,
        lane_ahead: int = 0,
        commit_interval_s: float = COMMIT_INTERVAL_S,
        client_id: str | None = None,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        revoke_timeout_s: float = 5.0,
        on_poison: Callable[[ConsumedRecord, BaseException], Awaitable[None]] | None = None,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        if not retry_delays:
            raise ValueError("at least one retry delay is needed")
        self._bootstrap_servers = bootstrap_servers
        self._topics = list(topics)
        self._group_id = group_id
        self._handle = handle
        self._lane_of = lane_of
        self._max_in_flight = max_in_flight
        self._commit_interval_s = commit_interval_s
        self._client_id = client_id or f"{group_id}-consumer"
        self._retry_delays = tuple(retry_delays)
        self._revoke_timeout_s = revoke_timeout_s
        self._on_poison = on_poison

        self._lanes: LaneScheduler[_Job] = LaneScheduler(lane_concurrency, lane_ahead)
        self._trackers: dict[TP, OffsetWatermark] = {}
        self._tasks: dict[asyncio.Task[None], _Job] = {}
        self._in_flight = 0
        self._room = asyncio.Event()  # set when a record finished (room to fetch)
        # Set when any record finished: drain and the idle commit loop wait on it.
        self._progress = asyncio.Event()
        self._commit_lock = asyncio.Lock()
        self._consumer: Any = None
        self._fetch_task: asyncio.Task[None] | None = None
        self._commit_task: asyncio.Task[None] | None = None
        self._closed = False
        self._full_since: float | None = None  # when in-flight last hit the cap
        self._pacing = FetchPacing()
        self._rotation = 0  # which partition takes its share first
        self._in_flight_gauge = IN_FLIGHT.labels(group=group_id)
        self._commits = COMMITS.labels(group=group_id)
        # The failure series exist at 0 from the start.
        self._failures = {t: HANDLER_FAILURES.labels(group=group_id, topic=t) for t in self._topics}
        for topic in self._topics:
            STALLS.watch(group_id, topic)

    # ----------------------------------------------------------------- lifecycle

    def _make_consumer(self) -> Any:
        """The aiokafka consumer (a seam for tests that run without a broker)."""
        return AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            group_id=self._group_id,
            client_id=self._client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # The group waits this long for members to rejoin; our revoke callback drains
            # in-flight records first, so it must outlast that drain.
            rebalance_timeout_ms=int((self._revoke_timeout_s + 20) * 1000),
            **consumer_waits(),
        )

    async def start(self) -> None:
        """Join the group and start fetching and committing."""
        if self._consumer is not None:
            raise RuntimeError("consumer already started")
        self._consumer = self._make_consumer()
        self._consumer.subscribe(self._topics, listener=_Rebalance(self))
        await self._consumer.start()
        loop = asyncio.get_running_loop()
        self._fetch_task = loop.create_task(self._fetch_loop(), name=f"{self._group_id}-fetch")
        self._commit_task = loop.create_task(self._commit_loop(), name=f"{self._group_id}-commit")
        log.info("consumer started", extra={"group": self._group_id, "topics": self._topics})

    # `timeout` is a grace period for in-flight records, not a deadline on the call.
    async def stop(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Graceful stop: stop fetching, let fetched records finish (up to `timeout`),
        commit the watermarks and leave the group. Records still unfinished after the
        timeout are cancelled; they are above the committed watermark and get redelivered.
        """
        if self._consumer is None or self._closed:
            return
        self._closed = True
        await _cancel(self._fetch_task)
        await self._drain(set(self._trackers), timeout)
        await _cancel(self._commit_task)
        await self._commit()
        await self._close()
        log.info("consumer stopped", extra={"group": self._group_id})

    async def abort(self) -> None:
        """Crash-like stop: cancel everything and leave the group WITHOUT committing.

        What a killed process amounts to (minus the session timeout); unfinished and
        uncommitted records are redelivered to the group.
        """
        if self._consumer is None or self._closed:
            return
        self._closed = True
        await _cancel(self._fetch_task)
        await _cancel(self._commit_task)
        await self._drain(set(self._trackers), 0)
        await self._close()
        log.warning("consumer aborted without commit", extra={"group": self._group_id})

    async def _close(self) -> None:
        await self._consumer.stop()
        for tp in list(self._trackers):
            self._forget(tp)
        self._in_flight_gauge.set(self._in_flight)

    @property
    def in_flight(self) -> int:
        """Records fetched and not finished (running or waiting for their lane)."""
        return self._in_flight

    @property
    def assignment(self) -> frozenset[TP]:
        """Partitions this member owns, as (topic, partition): assigned and not revoked.

        Empty during a rebalance (between revoke and assign), unlike aiokafka's own view.
        """
        return frozenset(self._trackers)

    async def settled(self) -> bool:
        """Readiness for a member that may own nothing (more members than partitions):
        running, the fetch loop alive, and joined with a settled assignment, even empty."""
        return (
            not self._closed
            and self._fetch_task is not None
            and not self._fetch_task.done()
            and holds_assignment(self._consumer)
        )

    async def ping(self) -> bool:
        """Readiness: running, the fetch loop alive, and a partition assignment held
        (so it is False while a rebalance is in progress)."""
        return (
            not self._closed
            and self._fetch_task is not None
            and not self._fetch_task.done()
            and bool(self.assignment)
        )

    # ----------------------------------------------------------------- fetching

    async def _fetch_loop(self) -> None:
        consumer = self._consumer
        while True:
            try:
                room = self._max_in_flight - self._in_flight
                if room <= 0:
                    await self._wait_for_room()
                    continue
                self._full_since = None
                if consumer.paused():
                    consumer.resume(*consumer.paused())
                if not await self._take_fair_shares():
                    # Nothing buffered below quota: wait for the next fetch response, and
                    # take up to one quota from whichever partition has data (so a lone
                    # busy partition still gets the whole budget, a quota at a time).
                    quota = self._quota(len(consumer.assignment()))
                    # Any record ends the wait; the timeout only bounds an idle pass.
                    batches = await consumer.getmany(
                        timeout_ms=self._pacing.poll_timeout_ms,
                        max_records=min(room, quota, 500),
                    )
                    self._pacing.after_poll(consumer, self._accept(batches), self._in_flight)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:
                log.warning("fetch failed; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(1)
            except Exception:
                log.exception("fetch loop error; retrying")
                await asyncio.sleep(1)

    async def _wait_for_room(self) -> None:
        # Backpressure: take no records until a slot frees. Not polling is enough to bound
        # memory (aiokafka prefetches at most one batch per partition), and that batch is
        # still there when room returns.
        loop = asyncio.get_running_loop()
        if self._full_since is None:
            self._full_since = loop.time()
        self._room.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self._room.wait()
        if self._in_flight < self._max_in_flight:
            return
        if loop.time() - self._full_since >= self._keepalive_after_s:
            # Full for long (stuck lanes hold every slot): aiokafka leaves the group when
            # nobody polls for max_poll_interval_ms. A zero-timeout poll of paused
            # partitions counts as a poll without taking records; a fresh, unpaused
            # assignment may still return some, which `_accept` puts back.
            consumer = self._consumer
            consumer.pause(*consumer.assignment())
            self._accept(await consumer.getmany(timeout_ms=0))
            self._full_since = loop.time()

    async def _take_fair_shares(self) -> int:
        """Top every assigned partition up to its quota of in-flight records from what is
        already buffered; returns how many records were dispatched.

        aiokafka's getmany drains one partition before the next: a backlog there would fill
        the in-flight budget with records queued behind a few lanes while the lanes of
        other partitions sit idle. Quotas keep one partition from crowding out the rest.
        """
        consumer = self._consumer
        assigned = sorted(consumer.assignment())
        if not assigned:
            return 0
        quota = self._quota(len(assigned))
        self._rotation = (self._rotation + 1) % len(assigned)  # who goes first when tight
        taken = 0
        for ktp in assigned[self._rotation :] + assigned[: self._rotation]:
            tracker = self._trackers.get((ktp.topic, ktp.partition))
            held = tracker.in_flight if tracker is not None else 0
            want = min(quota - held, self._max_in_flight - self._in_flight)
            if want > 0:
                batch = await consumer.getmany(ktp, timeout_ms=0, max_records=want)
                taken += self._accept(batch)
        return taken

    def _quota(self, partitions: int) -> int:
        return max(1, self._max_in_flight // max(1, partitions))

    def _accept(self, batches: dict[Any, list[Any]]) -> int:
        """Dispatch fetched records up to the in-flight cap; rewind the rest. Returns how
        many were dispatched.

        Synchronous on purpose: no rebalance can slip in between fetch and bookkeeping.
        """
        taken = 0
        consumer = self._consumer
        for ktp, records in batches.items():
            tp: TP = (ktp.topic, ktp.partition)
            tracker = self._trackers.get(tp)
            if tracker is None:
                if ktp not in consumer.assignment():
                    continue  # not ours any more: never tracked, never committed
                # Records can arrive before our on-assigned callback has run.
                tracker = self._trackers[tp] = OffsetWatermark()
            for raw in records:
                if tracker.next_offset is not None and raw.offset < tracker.next_offset:
                    continue  # fetched again (position rewound): already tracked
                if self._in_flight >= self._max_in_flight:
                    # Over the cap: seek back so these are fetched again later. Skipping
                    # them instead would let the watermark pass records never handled.
                    consumer.seek(ktp, raw.offset)
                    break
                try:
                    self._dispatch(tp, tracker, consumed_record(raw))
                except BaseException:
                    # Same reason: the rest of this batch must be fetched again, not lost
                    # (from past this record if it got tracked before the failure).
                    consumer.seek(ktp, max(raw.offset, tracker.next_offset or 0))
                    raise
                taken += 1
        return taken

    def _dispatch(self, tp: TP, tracker: OffsetWatermark, record: ConsumedRecord) -> None:
        tracker.add(record.offset)
        self._in_flight += 1
        self._in_flight_gauge.set(self._in_flight)
        try:
            lane = self._lane_of(record)
        except Exception:
            # Must not fail here: the offset is tracked already and would block commits.
            log.exception("lane_of failed; using the default lane", extra=_where(record))
            lane = lane_by_key(record)
        job = _Job(record=record, tp=tp, lane=lane, tracker=tracker)
        if self._lanes.submit(job.lane, job):
            self._start(job)

    # ----------------------------------------------------------------- handling

    def _start(self, job: _Job) -> None:
        context = contextvars.copy_context()
        context.run(_RELEASE.set, lambda: self._release_lane(job))
        context.run(_TURN.set, lambda: self._turn(job))
        task = asyncio.get_running_loop().create_task(self._run(job.record), context=context)
        self._tasks[task] = job
        # A done-callback, not a `finally`: it also runs for a task cancelled before it
        # ever started, so the bookkeeping cannot leak.
        task.add_done_callback(self._on_done)

    async def _run(self, record: ConsumedRecord) -> None:
        on_poison = self._on_poison
        isolate = None
        if on_poison is not None:

            async def isolate(exc: Exception) -> None:
                # Retried until it succeeds (the dead-letter topic may be away too); then
                # the record counts as done.
                await self._settle(record, lambda: on_poison(record, exc), None)

        await self._settle(record, lambda: self._handle(record), isolate)

    def _settle(
        self,
        record: ConsumedRecord,
        call: Callable[[], Awaitable[None]],
        isolate: Callable[[Exception], Awaitable[None]] | None,
    ) -> Awaitable[int]:
        return settle(
            call,
            group_id=self._group_id,
            topic=record.topic,
            where=((record.partition, record.offset),),
            retries=self._failures[record.topic],
            delays=self._retry_delays,
            attempts=None,  # in place until it succeeds: only this lane waits
            isolate=isolate,
            log_fields=lambda: _where(record),
        )

    async def _turn(self, job: _Job) -> None:
        if job.lane_released or self._lanes.has_turn(job.lane, job):
            return
        job.turn = asyncio.get_running_loop().create_future()
        await job.turn

    def _release_lane(self, job: _Job) -> None:
        if job.lane_released:
            return
        job.lane_released = True
        following = self._lanes.finish(job.lane, job)
        if following is not None:
            self._start(following)
        for holder in self._lanes.holding_turn(job.lane):
            if holder.turn is not None and not holder.turn.done():
                holder.turn.set_result(None)

    def _on_done(self, task: asyncio.Task[None]) -> None:
        job = self._tasks.pop(task)
        STALLS.recovered(self._group_id, job.record.topic, (job.tp[1], job.record.offset))
        if job.cancel_requested:
            pass  # even if the handler swallowed the cancel: it is redelivered, not "done"
        elif task.cancelled():
            log.error(
                "handler raised CancelledError by itself; the record stays uncommitted",
                extra=_where(job.record),
            )
        elif task.exception() is not None:  # only a BaseException escapes the retries
            log.error("handler task died", exc_info=task.exception(), extra=_where(job.record))
        else:
            job.tracker.complete(job.record.offset)
        self._in_flight -= 1
        self._in_flight_gauge.set(self._in_flight)
        self._release_lane(job)
        self._room.set()
        self._progress.set()

    async def _drain(self, tps: set[TP], within: float) -> None:
        """Let records of `tps` finish for up to `within` seconds, then give up on the rest:
        waiting ones are dropped and running ones cancelled (all stay uncommitted)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        trackers = [self._trackers[tp] for tp in tps if tp in self._trackers]
        while any(t.in_flight for t in trackers) and (left := deadline - loop.time()) > 0:
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._progress.wait()
        # Drop the waiting first, so a cancelled lane head cannot start one of them.
        dropped = self._lanes.drop(lambda job: job.tp in tps)
        self._in_flight -= len(dropped)
        self._in_flight_gauge.set(self._in_flight)
        running = [task for task, job in self._tasks.items() if job.tp in tps]
        for task in running:
            self._tasks[task].cancel_requested = True
            task.cancel()
        if running:
            _, stuck = await asyncio.wait(running, timeout=5)
            if stuck:
                log.error("handlers ignored cancellation", extra={"count": len(stuck)})
        if dropped or running:
            log.info(
                "gave up on unfinished records; they will be redelivered",
                extra={"group": self._group_id, "dropped": len(dropped), "cancelled": len(running)},
            )

    # ----------------------------------------------------------------- commits

    async def _commit_loop(self) -> None:
        while True:
            await asyncio.sleep(self._commit_interval_s)
            self._progress.clear()
            try:
                await self._commit()
            except Exception:
                log.exception("periodic commit failed")
            if not self._commit_due():
                # All committed: no watermark can move until a record finishes, so wait for
                # one (a finish since the clear above returns at once) instead of ticking:
                # an idle consumer would wake twice a second for nothing. Not for ever: the
                # lag gauge of a consumer whose records never finish must still follow the
                # partitions' ends.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(_IDLE_COMMIT_CHECK_S):
                        await self._progress.wait()

    def _commit_due(self) -> bool:
        return any(tracker.to_commit() is not None for tracker in self._trackers.values())

    async def _commit(self, only: Collection[TP] | None = None) -> None:
        """Commit the watermark of each (given) assigned partition that advanced."""
        async with self._commit_lock:
            due = {
                tp: mark
                for tp, tracker in self._trackers.items()
                if (only is None or tp in only) and (mark := tracker.to_commit()) is not None
            }
            if due:
                try:
                    async with asyncio.timeout(15):
                        await self._consumer.commit(
                            {TopicPartition(*tp): mark for tp, mark in due.items()}
                        )
                except (KafkaError, TimeoutError) as exc:
                    # The watermark stays due and is retried next tick (or by the next owner
                    # from the last good commit: redelivery, never loss).
                    log.warning(
                        "offset commit failed",
                        extra={"group": self._group_id, "error": repr(exc)},
                    )
                    return
                for tp, mark in due.items():
                    tracker = self._trackers.get(tp)
                    if tracker is not None:
                        tracker.mark_committed(mark)
                self._commits.inc()
            self._update_lag(only)

    def _update_lag(self, only: Collection[TP] | None) -> None:
        for tp, tracker in self._trackers.items():
            if (only is not None and tp not in only) or tracker.committed is None:
                continue
            try:
                end = self._consumer.highwater(TopicPartition(*tp))
            except AssertionError:  # aiokafka asserts the partition is still assigned
                continue
            if end is not None:
                LAG.labels(group=self._group_id, topic=tp[0], partition=str(tp[1])).set(
                    max(0, end - tracker.committed)
                )

    # ----------------------------------------------------------------- rebalance

    async def _on_revoked(self, revoked: set[TP]) -> None:
        mine = revoked & set(self._trackers)
        if not mine:
            return
        # Bounded: every member of the group waits for the slowest revoke.
        await self._drain(mine, self._revoke_timeout_s)
        await self._commit(mine)
        for tp in mine:
            self._forget(tp)
        log.info("partitions revoked", extra={"group": self._group_id, "count": len(mine)})

    def _on_assigned(self, assigned: set[TP]) -> None:
        # Fetching resumes from the committed offsets; state starts empty.
        for tp in assigned:
            self._trackers.setdefault(tp, OffsetWatermark())
        log.info("partitions assigned", extra={"group": self._group_id, "count": len(assigned)})

    def _forget(self, tp: TP) -> None:
        self._trackers.pop(tp, None)
        # Another member reports this partition's lag now.
        with contextlib.suppress(KeyError):
            LAG.remove(self._group_id, tp[0], str(tp[1]))


def holds_assignment(consumer: Any) -> bool:
    """An aiokafka group consumer has joined its group and is not mid-rebalance (its
    assignment may be empty). Reads aiokafka's subscription state, which has no public
    accessor for "rebalancing"."""
    state: Any = getattr(consumer, "_subscription", None)
    subscription = getattr(state, "subscription", None)
    return (
        subscription is not None
        and subscription.assignment is not None
        and not state.reassignment_in_progress
    )


def _where(record: ConsumedRecord) -> dict[str, Any]:
    # Log context: where the record is, never its key or value.
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


async def _cancel(task: asyncio.Task[None] | None) -> None:
    """Cancel a background loop and wait for it (our own cancellation still propagates)."""
    if task is None or task.done():
        return
    task.cancel()
    await asyncio.wait([task])

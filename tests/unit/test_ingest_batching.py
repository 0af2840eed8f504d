"""Group commit at the front door: who shares a flush, who hears of its failure, and the
acceptor's order of work (Kafka first, then the record of what was accepted)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from uuid import UUID, uuid4

import pytest

from jobcast.batching import MicroBatcher
from jobcast.kafka import OutgoingEvent
from schemas.jobs import JobCreated, JobEvent
from services.ingest import accepting
from services.ingest.accepting import JobEventAcceptor
from services.ingest.domain import EncodedEvent, encoded, first_sightings

pytestmark = pytest.mark.timeout(10)


class Recorder:
    """A flush that records its batches, answers each item doubled, and can be held."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()
        self.fail: Exception | None = None

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await self.release.wait()
        if self.fail is not None:
            raise self.fail
        return [2 * item for item in items]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_idle_batcher_flushes_at_once_with_what_came_in_the_same_turn() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush, max_in_flight=1)
    assert list(await asyncio.gather(batcher.submit(1), batcher.submit(2))) == [2, 4]
    assert flush.batches == [[1, 2]]
    assert await batcher.submit(3) == 6
    assert flush.batches == [[1, 2], [3]]


async def test_items_arriving_during_a_flush_share_the_next_one() -> None:
    flush = Recorder()
    flush.release.clear()
    batcher = MicroBatcher(flush, max_in_flight=1)
    first = asyncio.create_task(batcher.submit(1))
    await settle()
    later = [asyncio.create_task(batcher.submit(n)) for n in (2, 3, 4)]
    await settle()
    assert flush.batches == [[1]]  # the others wait for the one flush allowed
    flush.release.set()
    assert await asyncio.gather(first, *later) == [2, 4, 6, 8]
    assert flush.batches == [[1], [2, 3, 4]]


async def test_a_lingering_batcher_does_not_hold_an_item_that_arrives_while_idle() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush, max_in_flight=1, linger_seconds=30)
    assert await asyncio.wait_for(batcher.submit(1), 1) == 2
    assert await asyncio.wait_for(batcher.submit(2), 1) == 4
    assert flush.batches == [[1], [2]]


async def test_clients_that_wait_for_their_answers_never_make_a_flush_wait() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush, max_in_flight=1, linger_seconds=30)
    for n in range(0, 8, 2):  # two clients, each sending again once answered
        both = asyncio.gather(batcher.submit(n), batcher.submit(n + 1))
        assert list(await asyncio.wait_for(both, 1)) == [2 * n, 2 * n + 2]
    assert flush.batches == [[0, 1], [2, 3], [4, 5], [6, 7]]


async def one_arriving_during_a_flush(
    linger_seconds: float, enough_weight: int | None = None
) -> tuple[Recorder, MicroBatcher[int, int], asyncio.Task[int]]:
    """A batcher whose flush of [1] is done while 2, which arrived during it, is waiting."""
    flush = Recorder()
    flush.release.clear()
    batcher = MicroBatcher(
        flush, max_in_flight=1, linger_seconds=linger_seconds, enough_weight=enough_weight
    )
    first = asyncio.create_task(batcher.submit(1))
    await settle()
    second = asyncio.create_task(batcher.submit(2))  # while [1] is under way
    await settle()
    flush.release.set()
    assert await first == 2
    await settle()
    return flush, batcher, second


async def test_items_arriving_while_a_flush_is_under_way_make_the_next_one_wait() -> None:
    flush, batcher, second = await one_arriving_during_a_flush(0.2)
    assert flush.batches == [[1]]  # 2 waits for company
    assert list(await asyncio.gather(second, batcher.submit(3))) == [4, 6]
    assert flush.batches == [[1], [2, 3]]


async def test_a_wait_that_sees_nobody_arrive_ends_the_waiting() -> None:
    flush, batcher, second = await one_arriving_during_a_flush(0.1)
    assert flush.batches == [[1]]  # 2 waits
    assert await second == 4  # and nobody came
    assert await asyncio.wait_for(batcher.submit(3), 0.05) == 6
    assert flush.batches == [[1], [2], [3]]


async def test_a_waiting_flush_goes_as_soon_as_the_queue_holds_enough() -> None:
    flush, batcher, second = await one_arriving_during_a_flush(30, enough_weight=3)
    third = asyncio.create_task(batcher.submit(3))
    await settle()
    assert flush.batches == [[1]]  # two of the three it waits for
    assert await asyncio.wait_for(batcher.submit(4), 1) == 8
    assert list(await asyncio.gather(second, third)) == [4, 6]
    assert flush.batches == [[1], [2, 3, 4]]


def test_enough_weight_must_fit_a_flush() -> None:
    with pytest.raises(ValueError, match="enough_weight"):
        MicroBatcher(Recorder(), max_weight=10, enough_weight=11)
    with pytest.raises(ValueError, match="enough_weight"):
        MicroBatcher(Recorder(), enough_weight=0)


async def test_a_queue_that_fills_a_flush_does_not_linger() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush, max_weight=2, max_in_flight=1, linger_seconds=30)
    assert list(await asyncio.gather(batcher.submit(1), batcher.submit(2))) == [2, 4]
    both = asyncio.gather(batcher.submit(3), batcher.submit(4))
    assert list(await asyncio.wait_for(both, 1)) == [6, 8]
    assert flush.batches == [[1, 2], [3, 4]]


async def test_a_flush_cancelled_while_lingering_frees_its_slot() -> None:
    flush, batcher, waiting = await one_arriving_during_a_flush(0.2)
    for task in list(batcher._tasks):  # the lingering flush, as a shutdown would
        task.cancel()
    await settle()
    # A slot still counted as taken would never flush again.
    assert await asyncio.wait_for(batcher.submit(4), 1) == 8
    assert await waiting == 4
    assert flush.batches == [[1], [2, 4]]


async def test_a_flush_carries_at_most_max_weight_but_always_one_item() -> None:
    flush = Recorder()
    batcher = MicroBatcher(flush, max_weight=5, max_in_flight=1, weight=lambda n: n)
    results = await asyncio.gather(*(batcher.submit(n) for n in (2, 3, 1, 9, 4)))
    assert results == [4, 6, 2, 18, 8]
    assert flush.batches == [[2, 3], [1], [9], [4]]


async def test_flushes_run_side_by_side_up_to_max_in_flight() -> None:
    flush = Recorder()
    flush.release.clear()
    batcher = MicroBatcher(flush, max_in_flight=2)
    tasks = [asyncio.create_task(batcher.submit(1))]
    await settle()
    tasks.append(asyncio.create_task(batcher.submit(2)))
    await settle()
    tasks.append(asyncio.create_task(batcher.submit(3)))
    await settle()
    assert flush.batches == [[1], [2]]  # 3 waits: both slots are busy
    flush.release.set()
    assert await asyncio.gather(*tasks) == [2, 4, 6]
    assert flush.batches == [[1], [2], [3]]


async def test_what_does_not_fit_one_flush_starts_another_if_a_slot_is_free() -> None:
    flush = Recorder()
    flush.release.clear()
    batcher = MicroBatcher(flush, max_weight=2, max_in_flight=2)
    tasks = [asyncio.create_task(batcher.submit(n)) for n in (1, 2, 3, 4, 5)]
    await settle()
    assert flush.batches == [[1, 2], [3, 4]]  # both at once, 5 waits for a slot
    flush.release.set()
    assert await asyncio.gather(*tasks) == [2, 4, 6, 8, 10]


async def test_a_failed_flush_fails_every_item_in_it_and_only_those() -> None:
    flush = Recorder()
    flush.release.clear()
    batcher = MicroBatcher(flush, max_in_flight=1)
    first = asyncio.create_task(batcher.submit(1))
    await settle()
    flush.fail = OSError("database down")
    failing = [asyncio.create_task(batcher.submit(n)) for n in (2, 3)]
    await settle()
    flush.release.set()
    outcomes = await asyncio.gather(first, *failing, return_exceptions=True)
    assert all(isinstance(o, OSError) for o in outcomes)
    flush.fail = None
    assert await batcher.submit(4) == 8  # the batcher carries on


async def test_a_flush_answering_the_wrong_number_of_results_fails_its_items() -> None:
    async def short(items: Sequence[int]) -> list[int]:
        return list(items)[1:]

    batcher = MicroBatcher(short)
    outcomes = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)


async def test_a_waiter_that_gives_up_does_not_pull_its_item_or_spoil_the_others() -> None:
    flush = Recorder()
    flush.release.clear()
    batcher = MicroBatcher(flush, max_in_flight=1)
    first = asyncio.create_task(batcher.submit(1))
    await settle()
    gone = asyncio.create_task(batcher.submit(2))
    stays = asyncio.create_task(batcher.submit(3))
    await settle()
    gone.cancel()
    flush.release.set()
    assert list(await asyncio.gather(first, stays)) == [2, 6]
    assert flush.batches == [[1], [2, 3]]  # 2 was still flushed


async def test_drain_waits_for_flushes_in_progress() -> None:
    flush = Recorder()
    flush.release.clear()
    batcher = MicroBatcher(flush, max_in_flight=1)
    submitted = asyncio.create_task(batcher.submit(1))
    await settle()
    draining = asyncio.create_task(batcher.drain())
    await settle()
    assert not draining.done()
    flush.release.set()
    await draining
    assert submitted.done()


def test_limits_must_allow_a_flush() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MicroBatcher(Recorder(), max_in_flight=0)


def created(tenant: UUID, event_id: UUID, job_id: str = "j-1") -> EncodedEvent:
    payload = {"job_id": job_id, "title": "Cook", "company": "Warung", "location": "Canggu",
               "employment_type": "daily", "apply_url": "https://jobs.example.com/1"}  # fmt: skip
    event = {"event_id": event_id, "tenant_id": tenant, "payload": payload}
    return encoded(JobCreated.model_validate(event))


def test_first_sightings_publish_each_tenant_event_once_and_credit_the_first_sender() -> None:
    tenant, other = uuid4(), uuid4()
    old, new, shared = uuid4(), uuid4(), uuid4()
    submissions = [
        [created(tenant, old), created(tenant, new), created(tenant, new)],
        [created(tenant, new), created(tenant, shared)],
        [created(other, shared)],  # the same id from another tenant is another event
    ]
    sightings = first_sightings(submissions, seen={(tenant, old)})
    assert [(e.tenant_id, e.event_id) for e in sightings.publish] == [
        (tenant, new),
        (tenant, shared),
        (other, shared),
    ]
    assert sightings.first_seen == [{new}, {shared}, {shared}]


def test_first_sightings_of_nothing_new() -> None:
    tenant, event_id = uuid4(), uuid4()
    sightings = first_sightings([[created(tenant, event_id)]], seen={(tenant, event_id)})
    assert sightings.publish == []
    assert sightings.first_seen == [set()]


class FakeProducer:
    def __init__(self, calls: list[tuple[str, list[UUID]]], fail: bool = False) -> None:
        self.calls = calls
        self.fail = fail

    async def send_all(self, events: Iterable[OutgoingEvent]) -> None:
        sent = list(events)
        assert all(o.topic == "jobs.events" for o in sent)
        assert all(o.correlation_id == str(o.event.event_id) for o in sent)  # type: ignore[attr-defined]
        self.calls.append(("send", [o.event.event_id for o in sent]))  # type: ignore[attr-defined]
        # What goes to Kafka is the JSON rendered (and measured) when the event was encoded.
        assert all(isinstance(o.event, EncodedEvent) for o in sent)
        if self.fail:
            raise OSError("broker unreachable")


@pytest.fixture
def repo(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[UUID]]]:
    """Stands in for the SQL: the first event id counts as accepted before."""
    calls: list[tuple[str, list[UUID]]] = []
    seen: set[tuple[UUID, UUID]] = set()

    async def accepted_among(_: object, keys: list[tuple[UUID, UUID]]) -> set[tuple[UUID, UUID]]:
        calls.append(("select", [e for _, e in keys]))
        return seen & set(keys)

    async def remember(_: object, events: Sequence[JobEvent]) -> None:
        calls.append(("remember", [e.event_id for e in events]))
        seen.update((e.tenant_id, e.event_id) for e in events)

    monkeypatch.setattr(accepting, "accepted_among", accepted_among)
    monkeypatch.setattr(accepting, "remember_accepted_events", remember)
    return calls


async def test_the_acceptor_remembers_events_only_once_kafka_has_them(
    repo: list[tuple[str, list[UUID]]],
) -> None:
    producer = FakeProducer(repo)
    acceptor = JobEventAcceptor(None, producer)  # type: ignore[arg-type]
    tenant, first, second = uuid4(), uuid4(), uuid4()
    together = await asyncio.gather(
        acceptor.accept([created(tenant, first)]),
        acceptor.accept([created(tenant, first), created(tenant, second)]),
    )
    assert list(together) == [{first}, {second}]
    assert repo == [
        ("select", [first, first, second]),
        ("send", [first, second]),
        ("remember", [first, second]),
    ]
    assert await acceptor.accept([created(tenant, second)]) == set()  # a resend: a duplicate
    assert await acceptor.accept([]) == set()


async def test_events_the_broker_did_not_take_are_not_remembered(
    repo: list[tuple[str, list[UUID]]],
) -> None:
    acceptor = JobEventAcceptor(None, FakeProducer(repo, fail=True))  # type: ignore[arg-type]
    event_id = uuid4()
    with pytest.raises(OSError, match="broker unreachable"):
        await acceptor.accept([created(uuid4(), event_id)])
    assert [step for step, _ in repo] == ["select", "send"]  # the client's retry publishes it


class PoisonedFlush:
    """A flush that refuses any batch holding a poisoned item, like Postgres refusing one
    row of a multi-row statement; records every batch it was asked to write."""

    def __init__(self, poisoned: set[int], error: Exception) -> None:
        self.poisoned = poisoned
        self.error = error
        self.batches: list[list[int]] = []

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        if self.poisoned & set(items):
            raise self.error
        return [2 * item for item in items]


async def test_a_deterministic_failure_is_bisected_down_to_the_items_at_fault() -> None:
    flush = PoisonedFlush({3, 6}, ValueError("value out of int32 range"))
    batcher = MicroBatcher(flush, max_in_flight=1)
    outcomes = await asyncio.gather(*(batcher.submit(n) for n in range(8)), return_exceptions=True)
    assert [o if isinstance(o, int) else "failed" for o in outcomes] == [
        0, 2, 4, "failed", 8, 10, "failed", 14,
    ]  # fmt: skip
    assert all(o is flush.error for o in outcomes if not isinstance(o, int))
    written = [item for batch in flush.batches if not flush.poisoned & set(batch) for item in batch]
    assert written == [0, 1, 2, 4, 5, 7]  # each good item once, in submit order
    assert len(flush.batches) <= 1 + 2 * 2 * 3  # ~2·log2(n) more flushes per bad item


async def test_an_infrastructure_failure_fails_the_whole_flush_without_splitting() -> None:
    flush = PoisonedFlush({3}, ConnectionResetError("database away"))
    batcher = MicroBatcher(flush, max_in_flight=1)
    outcomes = await asyncio.gather(*(batcher.submit(n) for n in range(8)), return_exceptions=True)
    assert all(isinstance(o, ConnectionResetError) for o in outcomes)
    assert flush.batches == [list(range(8))]  # retried by the callers, not split here

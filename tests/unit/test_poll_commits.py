"""`PollCommits`: handled offsets are committed at most once an interval, before a stop,
and for partitions being given up; never one that was not handled or is not ours."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from jobcast.kafka.commits import CommitOnRevoke, PollAck, PollCommits

A, B = TopicPartition("jobs", 0), TopicPartition("jobs", 1)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int


@dataclass
class FakeConsumer:
    assigned: set[TopicPartition] = field(default_factory=lambda: {A, B})
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    failures: int = 0
    stopped: bool = False
    sought: list[tuple[TopicPartition, int]] = field(default_factory=list)

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.failures:
            self.failures -= 1
            raise KafkaConnectionError("broker away")
        self.commits.append(dict(offsets))

    async def stop(self) -> None:
        self.stopped = True

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.sought.append((partition, offset))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def attached(interval: float = 0.5) -> tuple[PollCommits, FakeConsumer, Clock]:
    clock = Clock()
    commits = PollCommits(interval, clock)
    consumer = FakeConsumer()
    commits.attach(consumer)
    return commits, consumer, clock


def polled(*where: tuple[int, int]) -> list[Record]:
    return [Record("jobs", partition, offset) for partition, offset in where]


async def test_a_trickle_of_polls_makes_one_commit_an_interval_of_the_last_handled() -> None:
    commits, consumer, clock = attached()
    for n in range(10):
        clock.now += 0.01
        await commits.handled(polled((0, n)))
    assert consumer.commits == []  # one commit a poll was what this replaces
    clock.now += 0.5
    await commits.handled(polled((0, 10), (1, 3), (1, 2)))
    assert consumer.commits == [{A: 11, B: 4}]
    assert commits.due == {}


async def test_what_waits_is_committed_after_the_next_poll_once_it_is_time() -> None:
    commits, consumer, clock = attached()
    await commits.handled(polled((0, 5)))
    await commits.commit_if_time()
    assert consumer.commits == []
    clock.now += 0.6
    await commits.commit_if_time()
    assert consumer.commits == [{A: 6}]
    clock.now += 0.6
    await commits.commit_if_time()  # nothing new: no commit
    assert len(consumer.commits) == 1


async def test_a_failed_commit_keeps_the_offsets_due() -> None:
    commits, consumer, clock = attached()
    consumer.failures = 1
    clock.now += 1
    await commits.handled(polled((0, 7)))
    assert consumer.commits == []
    assert commits.due == {A: 8}
    clock.now += 1
    await commits.commit_if_time()
    assert consumer.commits == [{A: 8}]


async def test_stopping_commits_first() -> None:
    commits, consumer, _ = attached(interval=60)
    await commits.handled(polled((1, 41)))
    await consumer.stop()  # what faststream calls once the handler in hand is done
    assert consumer.commits == [{B: 42}]
    assert consumer.stopped


async def test_partitions_given_up_are_committed_and_only_they() -> None:
    commits, consumer, _ = attached(interval=60)
    await commits.handled(polled((0, 1), (1, 9)))
    await CommitOnRevoke(commits).on_partitions_revoked({B})
    assert consumer.commits == [{B: 10}]
    assert commits.due == {A: 2}


async def test_an_offset_of_a_partition_no_longer_ours_is_dropped_not_committed() -> None:
    commits, consumer, clock = attached()
    await commits.handled(polled((0, 3), (1, 4)))
    consumer.assigned = {A}  # the handler finished after B went to another member
    clock.now += 1
    await commits.commit_if_time()
    assert consumer.commits == [{A: 4}]
    assert commits.due == {}


async def test_faststreams_ack_and_rewind_go_through_the_poll() -> None:
    commits, consumer, clock = attached()
    clock.now += 1
    ack = PollAck(commits, consumer, tuple(polled((0, 2), (0, 3))))
    ack.seek(A, 2)
    await ack.commit()
    assert consumer.sought == [(A, 2)]
    assert consumer.commits == [{A: 4}]

"""The distributor's fast paths give exactly what the general code gives, only sooner."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import PurePosixPath
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from jobcast.kafka import (
    CachedKeyPartitioner,
    OrderedProducer,
    OutgoingEvent,
    RenderedEvent,
    murmur2,
)
from schemas.media import MediaKind
from schemas.platforms import Platform
from schemas.publish import MediaItem, PostContent, PublishCommand, PublishRequested
from services.distributor import bulk, captions
from services.distributor.dispatch import random_uuid_text, requested_json
from services.distributor.media import _suffix
from services.distributor.repo_posts import NewPost
from services.distributor.schedule import PostState
from tests.unit.test_captions import PIECES, chunk, text

PROPERTY = settings(max_examples=300, deadline=None)
tags = st.lists(st.one_of(chunk, st.sampled_from(PIECES), st.text(max_size=20)), max_size=40)


@PROPERTY
@given(
    headline=st.lists(chunk, max_size=3),
    body=text,
    footer=chunk,
    apply_line=chunk,
    line_tags=tags,
    limit=st.one_of(st.integers(0, 400), st.integers(0, 60_000)),
    max_total_tags=st.one_of(st.none(), st.integers(0, 40)),
    max_line_tags=st.integers(0, 40),
)
def test_a_post_that_fits_as_given_is_what_cutting_would_give(  # noqa: PLR0917
    headline: list[str],
    body: str,
    footer: str,
    apply_line: str,
    line_tags: list[str],
    limit: int,
    max_total_tags: int | None,
    max_line_tags: int,
) -> None:
    post = captions._Layout(
        headline=headline,
        body=body,
        footer=footer,
        apply_line=apply_line,
        tags=captions.normalise_hashtags(line_tags),
        limit=limit,
        max_total_tags=max_total_tags,
        max_line_tags=max_line_tags,
    )
    fast = captions._fit_as_given(post)
    try:
        full = captions._fit_by_cutting(post)
    except ValueError:
        assert fast is None  # nothing fits: the fast path must not claim otherwise
        return
    assert fast is None or fast == full


def test_the_fast_layout_is_taken_for_a_post_that_fits() -> None:
    post = captions._Layout(
        headline=["Cook at Warung"],
        body="Morning shift #cook",
        footer="",
        apply_line="Apply: x.com",
        tags=["#Cook", "#Bali"],
        limit=100,
        max_total_tags=30,
        max_line_tags=30,
    )
    fitted = captions._fit_as_given(post)
    assert fitted is not None
    assert fitted.text == "Cook at Warung\n\nMorning shift #cook\n\nApply: x.com\n#Bali"
    assert fitted == captions._fit_by_cutting(post)
    assert captions._fit_as_given(captions._Layout(**{**vars_of(post), "limit": 20})) is None


def vars_of(post: captions._Layout) -> dict[str, Any]:
    names = ("headline", "body", "footer", "apply_line", "tags", "limit")
    return {name: getattr(post, name) for name in names} | {
        "max_total_tags": post.max_total_tags,
        "max_line_tags": post.max_line_tags,
    }


parts = st.lists(st.one_of(chunk, st.sampled_from(PIECES), st.text(max_size=30)), max_size=5)


@PROPERTY
@given(parts=parts)
def test_sanitising_plain_text_only_strips_it(parts: list[str]) -> None:
    assert captions._sanitise_for_instagram(parts) == captions._sanitise_until_stable(parts)


@pytest.mark.parametrize(
    "part",
    ["#tag", "＃tag", "@user", "＠user", "https://x.y", "HTTP://x", "www.x", "WwW.x", "a\nwww.b"],
)
def test_anything_with_a_sign_or_a_link_takes_the_full_path(part: str) -> None:
    assert captions._may_change(part)


@pytest.mark.parametrize("part", ["", "  plain text. ", "jobs.example.com", "ww w.x", "http:/x"])
def test_plain_text_takes_the_fast_path(part: str) -> None:
    assert not captions._may_change(part)


@given(name=st.text().filter(lambda name: "/" not in name))
def test_suffix_is_what_pathlib_says(name: str) -> None:
    assert _suffix(name) == PurePosixPath(name).suffix


@pytest.mark.parametrize("name", ["", ".", "..", ".jpg", "a.", "a.png", "a.b.webp", "a..", "x"])
def test_suffix_edge_cases(name: str) -> None:
    assert _suffix(name) == PurePosixPath(name).suffix


def command(**changes: object) -> PublishCommand:
    fields: dict[str, object] = {
        "post_key": "pk_" + "a" * 32,
        "platform": Platform.INSTAGRAM,
        "connection_id": uuid.uuid4(),
        "account_id": "ig-1",
        "job_id": "job-1",
        "revision": 1,
        "content": PostContent(
            text='Cook "at" Warung 💰 \\ é\n#Bali',
            link="https://jobs.example.com/1?utm_source=x&a=%20",
            media=[MediaItem(kind=MediaKind.IMAGE, url="https://jobs.example.com/1.jpg")],
        ),
    }
    return PublishCommand.model_validate(fields | changes)


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 11, 22, 11, 43, 26, 243372, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),  # no fraction of a second
        datetime(2026, 1, 1, 8, 30, 0, 500, tzinfo=timezone(timedelta(hours=8))),
    ],
)
def test_a_rendered_request_is_byte_for_byte_the_models_json(when: datetime) -> None:
    tenant_id, event_id, cmd = uuid.uuid4(), uuid.uuid4(), command()
    expected = PublishRequested(
        event_id=event_id, occurred_at=when, tenant_id=tenant_id, payload=cmd
    )
    rendered = requested_json(tenant_id, cmd.model_dump_json(), when, event_id)
    assert rendered == expected.model_dump_json()
    assert PublishRequested.model_validate_json(rendered) == expected


def test_each_rendered_request_has_its_own_event_id() -> None:
    cmd_json, now = command().model_dump_json(), datetime.now(UTC)
    first, second = (
        PublishRequested.model_validate_json(requested_json(uuid.uuid4(), cmd_json, now))
        for _ in range(2)
    )
    assert first.event_id != second.event_id


class StoringConnection:
    """Just enough of a connection for `insert_posts`: remembers what was stored."""

    def __init__(self) -> None:
        self.stored: list[str] = []

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, str]]:
        assert "INSERT INTO distributor.posts" in sql
        self.stored = list(args[9])
        return [{"post_key": key} for key in args[1]]


async def test_sent_commands_carry_exactly_the_stored_command() -> None:
    tenant_id, now = uuid.uuid4(), datetime.now(UTC)
    sent = command(post_key="pk_" + "1" * 32)
    waiting = command(post_key="pk_" + "2" * 32, platform=Platform.FACEBOOK)
    posts = [
        NewPost(sent, PostState.SENT, now, "corr-1", now),
        NewPost(waiting, PostState.SCHEDULED, now + timedelta(hours=1), "corr-2"),
    ]
    conn = StoringConnection()
    writer = bulk._Writer(conn)  # type: ignore[arg-type]
    events = await bulk._store_and_render(writer, [(tenant_id, post) for post in posts])
    await writer.wait()
    assert conn.stored == [sent.model_dump_json(), waiting.model_dump_json()]
    assert len(events) == 1
    out: OutgoingEvent = events[0]
    assert (out.topic, out.key, out.correlation_id) == (
        "publish.instagram",
        str(sent.connection_id),
        "corr-1",
    )
    assert out.event_type == "publish.requested"
    event = PublishRequested.model_validate_json(out.event.model_dump_json())
    assert (event.tenant_id, event.payload) == (tenant_id, sent)


def test_planned_posts_are_counted_per_kind() -> None:
    now = datetime.now(UTC)

    def count(state: PostState) -> float:
        labels = {"platform": "instagram", "action": "publish", "state": state.value}
        name = "jobcast_distributor_posts_planned_total"
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = {s: count(s) for s in (PostState.SENT, PostState.HELD)}
    bulk._count_planned(
        [
            NewPost(command(), PostState.SENT, now, "c"),
            NewPost(command(), PostState.SENT, now, "c"),
            NewPost(command(), PostState.HELD, now, "c"),
        ]
    )
    assert count(PostState.SENT) - before[PostState.SENT] == 2
    assert count(PostState.HELD) - before[PostState.HELD] == 1


@given(key=st.binary(max_size=64), count=st.integers(1, 64))
def test_the_cached_partitioner_picks_what_aiokafka_picks(key: bytes, count: int) -> None:
    partitions = list(range(count))
    expected = DefaultPartitioner()(key, partitions, partitions)
    cached = CachedKeyPartitioner()
    assert cached(key, partitions, partitions) == expected
    assert cached(key, partitions, partitions) == expected  # and again, from the cache


@pytest.mark.parametrize(
    ("key", "java"),
    [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        (b"abc", 479470107),
    ],
)
def test_murmur2_gives_what_the_java_client_gives(key: bytes, java: int) -> None:
    # The vectors of Kafka's own UtilsTest (signed 32-bit there, unsigned here).
    assert murmur2(key) == java & 0xFFFFFFFF


def test_the_cached_partitioner_spreads_keyless_records_over_available_partitions() -> None:
    assert {CachedKeyPartitioner()(None, [0, 1, 2], [1]) for _ in range(20)} == {1}


def test_random_uuid_text_is_a_random_version_4_uuid() -> None:
    ids = {random_uuid_text() for _ in range(2_000)}
    assert len(ids) == 2_000
    for event_id in ids:
        parsed = uuid.UUID(event_id)
        assert str(parsed) == event_id
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
    # Every variant digit turns up (its two free bits are random too).
    assert {event_id[19] for event_id in ids} == set("89ab")


class FakeBatch:
    """aiokafka's BatchBuilder as OrderedProducer uses it: full after `room` records."""

    def __init__(self, room: int) -> None:
        self.room = room
        self.records: list[tuple[bytes, bytes]] = []
        self.closed = False

    def append(self, *, timestamp: None, key: bytes, value: bytes, headers: object) -> Any:
        if self.closed or len(self.records) >= self.room:
            return None
        self.records.append((key, value))
        return object()

    def close(self) -> None:
        self.closed = True


class FakeAioProducer:
    """Records what reaches the broker, in order; each acknowledgement is a future the
    test settles (one per batch, one per record sent alone)."""

    def __init__(self, *, room: int = 100, partitions: int = 3) -> None:
        self.room, self.partitions = room, partitions
        self.sent: list[tuple[str, int, bytes, bytes]] = []  # topic, partition, key, value
        self.acks: list[asyncio.Future[None]] = []

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(self.partitions))

    def create_batch(self) -> FakeBatch:
        return FakeBatch(self.room)

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> Any:
        assert batch.closed  # closed batches go without lingering
        self.sent += [(topic, partition, key, value) for key, value in batch.records]
        return self._ack()

    async def send(self, topic: str, value: bytes, *, key: bytes, headers: object) -> Any:
        self.sent.append((topic, -1, key, value))
        return self._ack()

    def _ack(self) -> asyncio.Future[None]:
        self.acks.append(asyncio.get_running_loop().create_future())
        return self.acks[-1]


def produced(topic: str) -> float:
    value = REGISTRY.get_sample_value("jobcast_records_produced_total", {"topic": topic})
    return value or 0.0


def produce_failures(topic: str) -> float:
    value = REGISTRY.get_sample_value("jobcast_records_produce_failures_total", {"topic": topic})
    return value or 0.0


def fake_producer(**fake: Any) -> tuple[OrderedProducer, FakeAioProducer]:
    producer = OrderedProducer("127.0.0.1:9", "test")
    producer._producer = FakeAioProducer(**fake)
    return producer, producer._producer


async def test_enqueued_events_go_out_in_order_and_wait_reports_a_failure() -> None:
    producer, fake = fake_producer()
    before, failures_before = produced("t.one"), produce_failures("t.one")
    pending = await producer.enqueue(
        [OutgoingEvent("t.one", "k", RenderedEvent(f'{{"n":{n}}}')) for n in range(3)]
    )
    await producer.enqueue([OutgoingEvent("t.two", "k", RenderedEvent("{}"))], pending)
    assert [(t, v) for t, _, _, v in fake.sent] == [
        ("t.one", b'{"n":0}'),
        ("t.one", b'{"n":1}'),
        ("t.one", b'{"n":2}'),
        ("t.two", b"{}"),
    ]
    assert produced("t.one") - before == 3
    assert len(fake.acks) == 2  # one batch per partition
    fake.acks[1].set_result(None)
    fake.acks[0].set_exception(RuntimeError("broker said no"))
    with pytest.raises(RuntimeError, match="broker said no"):
        await producer.wait(pending)
    assert produce_failures("t.one") - failures_before == 3  # the batch's records


async def test_each_partition_keeps_its_order_across_full_batches() -> None:
    producer, fake = fake_producer(room=2, partitions=4)
    keys = [f"account-{n}" for n in range(5)]
    events = [
        OutgoingEvent("t.many", keys[n % 5], RenderedEvent(f'{{"n":{n}}}')) for n in range(40)
    ]
    await producer.enqueue(events)
    partitions = [0, 1, 2, 3]
    expected = {
        key: DefaultPartitioner()(key.encode(), partitions, partitions) for key in keys
    }  # what aiokafka's `send` would pick
    seen: dict[int, list[int]] = {}
    for topic, partition, key, value in fake.sent:
        assert (topic, partition) == ("t.many", expected[key.decode()])
        seen.setdefault(partition, []).append(int(value.decode()[5:-1]))
    assert sorted(n for ns in seen.values() for n in ns) == list(range(40))
    assert all(ns == sorted(ns) for ns in seen.values())  # per partition, as given
    assert len(fake.acks) >= 40 // 2  # full batches were cut


async def test_a_large_record_goes_alone_after_what_came_before() -> None:
    producer, fake = fake_producer()
    big = "x" * 100_000
    await producer.enqueue(
        [
            OutgoingEvent("t.big", "k", RenderedEvent('"first"')),
            OutgoingEvent("t.big", "k", RenderedEvent(f'"{big}"')),
            OutgoingEvent("t.big", "k", RenderedEvent('"last"')),
        ]
    )
    assert [(p, v[:7]) for _, p, _, v in fake.sent] == [
        (fake.sent[0][1], b'"first"'),
        (-1, b'"xxxxxx'),  # through aiokafka's send, with its size checks
        (fake.sent[0][1], b'"last"'),
    ]

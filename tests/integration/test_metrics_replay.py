"""`jobcast replay`: resets a stopped group (to the earliest offsets or to a time), shows
what would move on a dry run, and refuses while the group has members."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from typer.testing import CliRunner

from jobcast.kafka import ensure_topics
from jobcast.topics import TopicSpec
from jobcast_cli.main import app
from jobcast_cli.replay import GroupActiveError, reset_group
from tests.harness import Infra
from tests.suites.offsets import committed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


async def topic_with_records(bootstrap: str) -> str:
    """A fresh two-partition topic: partition 0 holds 4 records one second apart, 1 none."""
    topic = f"test.replay.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [TopicSpec(topic, 2, "test")])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(4):
            await producer.send_and_wait(
                topic, f"r{i}".encode(), partition=0, timestamp_ms=BASE_MS + 1000 * i
            )
    finally:
        await producer.stop()
    return topic


async def consume_all(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    """Join `group`, read everything, commit; the consumer is returned still running."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    seen = 0
    while seen < 4:
        batches = await consumer.getmany(timeout_ms=1000)
        seen += sum(len(records) for records in batches.values())
    await consumer.commit()
    return consumer


async def test_replay_moves_a_stopped_group_and_refuses_an_active_one(infra: Infra) -> None:
    bootstrap = infra.kafka_bootstrap_servers
    topic = await topic_with_records(bootstrap)
    group = f"test-replay-{uuid.uuid4().hex[:8]}"
    p0, p1 = TopicPartition(topic, 0), TopicPartition(topic, 1)

    consumer = await consume_all(bootstrap, topic, group)
    try:
        with pytest.raises(GroupActiveError, match="active"):
            await reset_group(bootstrap, group, topics=[], to_datetime=None, dry_run=False)
    finally:
        await consumer.stop()
    assert (await committed(bootstrap, group))[p0] == 4

    moves = await reset_group(bootstrap, group, topics=[], to_datetime=None, dry_run=True)
    assert [(m.partition, m.current, m.new) for m in moves if m.topic == topic] == [
        (0, 4, 0),
        (1, 0, 0),
    ]
    assert (await committed(bootstrap, group))[p0] == 4  # a dry run changes nothing

    at = datetime.fromtimestamp((BASE_MS + 1500) / 1000, UTC)
    moves = await reset_group(bootstrap, group, topics=[topic], to_datetime=at, dry_run=False)
    assert [(m.partition, m.new, m.delta) for m in moves] == [(0, 2, -2), (1, 0, 0)]
    assert await committed(bootstrap, group) == {p0: 2, p1: 0}

    await reset_group(bootstrap, group, topics=[topic], to_datetime=None, dry_run=False)
    assert await committed(bootstrap, group) == {p0: 0, p1: 0}


def test_replay_command_dry_run_and_refusal(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> None:
    bootstrap = infra.kafka_bootstrap_servers
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
    topic = asyncio.run(topic_with_records(bootstrap))
    group = f"test-replay-{uuid.uuid4().hex[:8]}"
    runner = CliRunner()

    async def joined_then(action: str) -> None:
        consumer = await consume_all(bootstrap, topic, group)
        if action == "stop":
            await consumer.stop()
        else:
            # The command runs its own event loop: give it a thread of its own.
            refused = await asyncio.to_thread(
                runner.invoke, app, ["replay", "--group", group, "--to-earliest"]
            )
            await consumer.stop()
            assert refused.exit_code == 2, refused.output
            assert "refused" in refused.output
            assert "active" in refused.output

    asyncio.run(joined_then("refuse"))
    dry = runner.invoke(app, ["replay", "--group", group, "--to-earliest", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"{topic}[0]  4 -> 0 (-4)" in dry.output
    assert "dry run: nothing changed" in dry.output
    assert asyncio.run(committed(bootstrap, group))[TopicPartition(topic, 0)] == 4

    both = runner.invoke(app, ["replay", "--group", group])
    assert both.exit_code == 2  # neither --to-earliest nor --to-datetime
    timed = runner.invoke(
        app, ["replay", "--group", group, "--to-datetime", "2026-01-01T00:00:01.500000+0000"]
    )
    assert timed.exit_code == 0, timed.output
    assert f"{topic}[0]  4 -> 2 (-2)" in timed.output
    assert asyncio.run(committed(bootstrap, group))[TopicPartition(topic, 0)] == 2

"""`jobcast dlq` on the real broker and Postgres: dead letters parked by the services' own
path (`jobcast.kafka.dead_letter`) are listed, shown with secrets redacted, and replayed
into their topic once — again only with --again; truncated ones are refused."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from prometheus_client import REGISTRY
from typer.testing import CliRunner, Result

from jobcast.db import create_pool
from jobcast.kafka import ConsumedRecord, dead_letter, ensure_topics, make_broker, topic_partitions
from jobcast.topics import TopicSpec, dead_letter_topic
from jobcast_cli.dlq.ledger import claim, mark_replayed, migrate_dlq, states_of
from jobcast_cli.dlq.reading import read_dead_letters
from jobcast_cli.dlq.records import REPLAY_OF, DeadLetterId, Selection, by_offset
from jobcast_cli.main import app
from schemas import headers as h
from tests.harness import Infra

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SECRET = "EAABwhatever0123456789secret"


@pytest.fixture
def cli_env(infra: Infra, monkeypatch: pytest.MonkeyPatch) -> Infra:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
    monkeypatch.setenv("DATABASE_URL", infra.database_url)
    return infra


def dlq(*args: str) -> Result:
    return CliRunner().invoke(app, ["dlq", *args])


def dlq_json(*args: str) -> list[dict[str, Any]]:
    result = dlq(*args, "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def dlq_count(topic: str, reason: str) -> float:
    found = REGISTRY.get_sample_value(
        "jobcast_dlq_records_total", {"topic": topic, "reason": reason}
    )
    return found or 0.0


async def park(
    bootstrap: str,
    topic: str,
    records: list[tuple[ConsumedRecord, str, str]],
    groups: tuple[str, ...] = ("distributor",),
) -> None:
    """Create `topic` (2 partitions) and its .dlq, then dead-letter each (record, reason,
    kind) as the consumers of each of `groups` do."""
    await ensure_topics(
        bootstrap, [TopicSpec(topic, 2, ""), TopicSpec(dead_letter_topic(topic), 1, "")]
    )
    broker = make_broker(bootstrap, "dlq-test")
    await broker.start()
    try:
        for record, reason, kind in records:
            for group in groups:
                await dead_letter(broker, record, group_id=group, reason=reason, kind=kind)
    finally:
        await broker.stop()


async def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record of `topic` now, with a plain consumer."""
    partitions = await topic_partitions(bootstrap, [topic])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp, offset in (await consumer.beginning_offsets(partitions)).items():
            consumer.seek(tp, offset)
        records: list[Any] = []
        async with asyncio.timeout(30):
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records += batch
        return records
    finally:
        await consumer.stop()


def test_dead_letters_are_listed_shown_redacted_and_replayed_once(cli_env: Infra) -> None:
    bootstrap = cli_env.kafka_bootstrap_servers
    topic = f"dlqtest-{uuid.uuid4().hex[:10]}"
    dlq_topic = dead_letter_topic(topic)
    event = {"event_id": str(uuid.uuid4()), "payload": {"access_token": SECRET, "n": 1}}
    headers = ((h.CORRELATION_ID, b"corr-a"), (h.EVENT_TYPE, b"job.created"))
    # As a consumer hands them to `dead_letter` (which does not read the timestamp).
    invalid = ConsumedRecord(topic, 1, 41, b"job-a", json.dumps(event).encode(), headers, 0)
    not_json = ConsumedRecord(topic, 0, 5, b"job-b", b"not json " + SECRET.encode(), (), 0)
    huge = ConsumedRecord(topic, 0, 6, b"job-c", b"x" * 1_200_000, (), 0)
    before = (dlq_count(topic, "invalid"), dlq_count(topic, "not_json"))
    asyncio.run(
        park(
            bootstrap,
            topic,
            [
                (huge, "too big for anything", "not_json"),
                (not_json, "not JSON: Expecting value", "not_json"),
                (invalid, "payload.title: Field required", "invalid"),
            ],
        )
    )
    # Every dead letter is counted, the truncated one too.
    assert dlq_count(topic, "invalid") - before[0] == 1
    assert dlq_count(topic, "not_json") - before[1] == 2

    # list: newest first, with where each came from and why.
    rows = dlq_json("list", "--topic", topic)
    assert [(r["topic"], r["partition"], r["offset"]) for r in rows] == [
        (topic, 1, 41), (topic, 0, 5), (topic, 0, 6),
    ]  # fmt: skip
    first = rows[0]
    assert first["id"] == f"{dlq_topic}:0:2"
    assert first["group"] == "distributor"
    assert first["reason"] == "payload.title: Field required"
    assert first["key"] == "job-a"
    assert first["replay"] == "-"
    assert rows[2]["truncated_from"] == 1_200_000
    assert rows[2]["size"] == 64 * 1024
    assert [
        r["offset"] for r in dlq_json("list", "--topic", dlq_topic, "--reason", "NOT json")
    ] == [5]
    assert [r["offset"] for r in dlq_json("list", "--topic", topic, "--limit", "1")] == [41]
    assert [r["offset"] for r in dlq_json("list", "--topic", topic, "--by-offset")] == [6, 5, 41]
    assert len(dlq_json("list", "--topic", topic, "--since", "1h")) == 3
    assert dlq_json("list", "--topic", topic, "--since", "2099-01-01T00:00:00Z") == []
    everywhere = dlq_json("list", "--limit", "1000")
    assert {r["id"] for r in rows} <= {r["id"] for r in everywhere}
    table = dlq("list", "--topic", topic)
    assert table.exit_code == 0, table.output
    assert f"{topic}[1]@41" in table.stdout
    assert SECRET not in table.output

    # A topic nothing was dead-lettered to yet (no .dlq topic at all) is empty, not an error.
    missing = dlq("list", "--topic", f"nothing-{uuid.uuid4().hex[:8]}", "--json")
    assert missing.exit_code == 0, missing.output
    assert json.loads(missing.stdout) == []
    assert "no topic" in missing.stderr
    empty = f"empty-{uuid.uuid4().hex[:8]}"
    asyncio.run(ensure_topics(bootstrap, [TopicSpec(dead_letter_topic(empty), 1, "")]))
    assert dlq_json("list", "--topic", empty) == []
    assert dlq("list", "--topic", empty).exit_code == 0

    # show: headers, reason, value pretty and redacted; by id or by topic partition offset.
    shown = dlq("show", first["id"])
    assert shown.exit_code == 0, shown.output
    assert "payload.title: Field required" in shown.stdout
    assert "x-correlation-id: corr-a" in shown.stdout
    assert '"access_token": "[redacted]"' in shown.stdout
    assert SECRET not in shown.output
    text = dlq("show", dlq_topic, "0", "1")
    assert text.exit_code == 0, text.output
    assert "value (text, " in text.stdout
    assert "not json [redacted]" in text.stdout
    assert SECRET not in text.output
    assert dlq("show", topic, "0", "1").exit_code == 2  # a place in the original topic
    assert dlq("show", dlq_topic, "0", "99").exit_code == 2
    cut = dlq("show", f"{dlq_topic}:0:0")
    assert "more characters (--full shows them)" in cut.stdout
    assert len(dlq("show", f"{dlq_topic}:0:0", "--full").stdout) > 64 * 1024

    # replay: a dry run sends nothing; the truncated record is refused with the reason.
    dry = dlq("replay", "--topic", topic, "--dry-run")
    assert dry.exit_code == 2, dry.output
    assert f"would send {dlq_topic}:0:1" in dry.stdout
    assert f"would send {dlq_topic}:0:2" in dry.stdout
    assert f"refused {dlq_topic}:0:0: truncated" in dry.stderr
    assert asyncio.run(read_all(bootstrap, topic)) == []

    replayed = dlq("replay", "--topic", topic)
    assert replayed.exit_code == 2, replayed.output  # the truncated one was refused
    assert "2 sent, 0 skipped, 1 refused, 0 failed" in replayed.stdout
    records = asyncio.run(read_all(bootstrap, topic))
    assert len(records) == 2
    by_key = {r.key: r for r in records}
    back = by_key[b"job-a"]
    assert back.partition == 1  # where it was consumed from
    assert back.value == invalid.value  # the original bytes, not a redacted copy
    # The original headers, in order, and where it came from; no x-dlq-* header else.
    # (The dead letter also carries the `content-type` and `correlation_id` faststream
    # adds to what it publishes: with no way to tell them from the original's, they stay.)
    came_back = [(k, v) for k, v in back.headers if k not in ("content-type", "correlation_id")]
    assert came_back == [
        (h.CORRELATION_ID, b"corr-a"),
        (h.EVENT_TYPE, b"job.created"),
        (REPLAY_OF, f"{dlq_topic}:0:2".encode()),
    ]
    assert by_key[b"job-b"].partition == 0
    assert by_key[b"job-b"].value == not_json.value
    assert not any(k.startswith("x-dlq-") and k != REPLAY_OF for k, _ in by_key[b"job-b"].headers)

    # The same replay again sends nothing; the ledger says where each went.
    twice = dlq("replay", "--topic", topic, "--reason", "e")
    assert twice.exit_code == 0, twice.output
    assert "0 sent, 2 skipped" in twice.stdout
    assert len(asyncio.run(read_all(bootstrap, topic))) == 2
    states = {r["offset"]: r["replay"] for r in dlq_json("list", "--topic", topic)}
    assert states == {41: "replayed", 5: "replayed", 6: "-"}
    assert f"-> partition 1 offset {back.offset}" in dlq("show", first["id"]).stdout

    # --again sends it anyway; a truncated one named by id is refused outright.
    forced = dlq("replay", "--id", first["id"], "--again")
    assert forced.exit_code == 0, forced.output
    assert "1 sent" in forced.stdout
    records = asyncio.run(read_all(bootstrap, topic))
    assert [r.key for r in records].count(b"job-a") == 2
    assert "sent 2 times" in dlq("show", first["id"]).stdout
    refused = dlq("replay", "--id", f"{dlq_topic}:0:0")
    assert refused.exit_code == 2
    assert "truncated" in refused.stderr
    assert dlq("replay").exit_code == 2  # nothing named
    assert dlq("replay", "--id", f"{dlq_topic}:0:77").exit_code == 2


def test_a_replay_cut_short_is_in_doubt_and_concurrent_replays_claim_once(cli_env: Infra) -> None:
    bootstrap = cli_env.kafka_bootstrap_servers
    topic = f"dlqtest-{uuid.uuid4().hex[:10]}"
    dlq_topic = dead_letter_topic(topic)
    raws = [ConsumedRecord(topic, 0, n, b"k", b'{"n": %d}' % n, (), 0) for n in range(4)]
    asyncio.run(park(bootstrap, topic, [(r, "n: bad", "invalid") for r in raws]))
    ids = [DeadLetterId(dlq_topic, 0, n) for n in range(4)]

    async def claims() -> tuple[set[DeadLetterId], set[DeadLetterId], set[DeadLetterId]]:
        letters = by_offset((await read_dead_letters(bootstrap, [dlq_topic], Selection())).letters)
        assert [d.id for d in letters] == ids
        pool = await create_pool(cli_env.database_url, max_size=4)
        try:
            await migrate_dlq(pool)
            a, b = await asyncio.gather(
                claim(pool, letters[:3], actor="a", again=False),
                claim(pool, letters[:3], actor="b", again=False),
            )
            # A claim left behind (the process died before the broker answered).
            left = await claim(pool, letters[3:], actor="c", again=False)
            # The same place holding another record (the DLQ topic was created anew) is
            # not the dead letter replayed before.
            await mark_replayed(pool, [(ids[0], 0, 0)])
            other = dataclasses.replace(
                letters[0], timestamp_ms=letters[0].timestamp_ms + 1, digest=b"other bytes"
            )
            assert ids[0] in await states_of(pool, letters[:1])
            assert await states_of(pool, [other]) == {}
            assert await claim(pool, [other], actor="d", again=False) == {ids[0]}
            return a, b, left
        finally:
            await pool.close()

    first, second, left = asyncio.run(claims())
    assert first | second == set(ids[:3])
    assert not first & second
    assert left == {ids[3]}

    doubt = dlq("replay", "--id", str(ids[3]))
    assert doubt.exit_code == 0, doubt.output
    assert f"skipped {ids[3]}: in doubt" in doubt.stdout
    assert asyncio.run(read_all(bootstrap, topic)) == []
    forced = dlq("replay", "--id", str(ids[3]), "--again")
    assert forced.exit_code == 0, forced.output
    assert [r.value for r in asyncio.run(read_all(bootstrap, topic))] == [b'{"n": 3}']


def test_a_record_dead_lettered_by_two_groups_goes_back_once(cli_env: Infra) -> None:
    bootstrap = cli_env.kafka_bootstrap_servers
    topic = f"dlqtest-{uuid.uuid4().hex[:10]}"
    dlq_topic = dead_letter_topic(topic)
    record = ConsumedRecord(topic, 1, 3, b"job-1", b'{"n": 1}', (), 0)
    asyncio.run(park(bootstrap, topic, [(record, "n: bad", "invalid")], ("distributor", "metrics")))
    by_distributor, by_metrics = f"{dlq_topic}:0:0", f"{dlq_topic}:0:1"

    once = dlq("replay", "--topic", topic)
    assert once.exit_code == 0, once.output
    assert f"skipped {by_metrics}: the same record as {by_distributor}" in once.stdout
    assert "1 sent, 1 skipped" in once.stdout
    assert len(asyncio.run(read_all(bootstrap, topic))) == 1  # every group gets it from there
    assert {r["group"]: r["replay"] for r in dlq_json("list", "--topic", topic)} == {
        "distributor": "replayed",
        "metrics": "replayed",
    }
    later = dlq("replay", "--id", by_metrics)
    assert f"replayed as {by_distributor} (the same record)" in later.stdout
    assert len(asyncio.run(read_all(bootstrap, topic))) == 1
    forced = dlq("replay", "--id", by_metrics, "--again")
    assert forced.exit_code == 0, forced.output
    assert len(asyncio.run(read_all(bootstrap, topic))) == 2

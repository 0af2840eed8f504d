"""Fuzz every consumed topic: bad records go to `<topic>.dlq` with a reason, good ones flow.

On each topic of `jobcast.topics.CONSUMED`, hand-picked bad records (tests/suites/fuzz.py)
and hypothesis-generated ones are interleaved with good records under one key, so they
share a partition (and a publisher's lane) and every good record comes after some bad
ones. Then: every bad record is in the dead-letter topic once per consuming group, with
`x-dlq-reason`; every good record had its effect (posts on the platform and in the read
model, a result in the read model, a connection status, a pause); every service is alive.

Hypothesis draws `JOBCAST_FUZZ_RECORDS` (default 25) generated records per topic, from the
seed printed with each run (`JOBCAST_FUZZ_SEED` repeats one). Drawing them all first and
sending them in one go keeps each topic to one Kafka round trip; hypothesis still explores
(every draw is a fresh example), it only does not shrink a failure (the failing record is
named by its label instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import MessageSizeTooLargeError
from aiokafka.structs import TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from devtools.stack import Endpoints
from jobcast.crypto import TokenCipher
from jobcast.graph.hosts import LoginKind
from jobcast.kafka import topic_partitions
from jobcast.topics import CONSUMED, dead_letter_topic
from schemas import (
    JobCreated,
    JobPosting,
    MediaItem,
    MediaKind,
    Platform,
    PostContent,
    PublishCommand,
    PublishCompleted,
    PublishRequested,
    PublishResult,
    PublishStatus,
    make_post_key,
)
from schemas import headers as h
from schemas.connections import ConnectionStatus, ConnectionStatusChange, ConnectionStatusChanged
from schemas.operator import OperatorAction, OperatorCommand, OperatorCommandIssued
from services.distributor.repo import add_connection
from tests.harness import RunningPipeline
from tests.integration.helpers import job_event, new_tenant
from tests.suites.extreme import draw
from tests.suites.fuzz import GROUPS, BadRecord, Json, generated, hand_picked, mutations
from tests.suites.offsets import log_ends
from tests.suites.verdict import show

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

GENERATED = int(os.environ.get("JOBCAST_FUZZ_RECORDS", "25"))
SEED = int(os.environ["JOBCAST_FUZZ_SEED"]) if os.environ.get("JOBCAST_FUZZ_SEED") else None
GOOD = 5  # good records per topic, spread between the bad ones; the last record is good
RUN_HEADER = "x-fuzz-run"
CASE_HEADER = "x-fuzz-case"
DEFAULT_MAX_MESSAGE_BYTES = 1_048_588  # Kafka's message.max.bytes default


@dataclass
class Target:
    """One topic prepared for a fuzz run: its key, a valid template, the good records."""

    topic: str
    key: bytes
    tenant_id: uuid.UUID
    template: Json
    good: list[bytes]
    arrived: Callable[[], Awaitable[str | None]]  # None once every good record had its effect


@dataclass
class Tally:
    topics: list[str] = field(default_factory=list)
    bad: int = 0
    letters: int = 0
    good: int = 0


@pytest.fixture(scope="module")
def tally(pytestconfig: pytest.Config) -> Iterator[Tally]:
    found = Tally()
    yield found
    if found.topics:
        line = (
            f"FUZZ {'PASS' if len(found.topics) == len(CONSUMED) else 'PARTIAL'}: "
            f"{len(found.topics)}/{len(CONSUMED)} consumed topics, {found.bad} bad records → "
            f"{found.letters} dead letters with a reason, {found.good} good records arrived, "
            "all consumers alive"
        )
        show(pytestconfig, line)


def _post_key(tenant_id: uuid.UUID, job_id: str, connection_id: uuid.UUID) -> str:
    return make_post_key(tenant_id, job_id, connection_id, 1)


async def _ids(db: asyncpg.Pool, account_id: str) -> tuple[uuid.UUID, uuid.UUID]:
    row = await db.fetchrow(
        "SELECT tenant_id, connection_id FROM distributor.connections WHERE account_id = $1",
        account_id,
    )
    assert row is not None
    return row["tenant_id"], row["connection_id"]


def _job(job_id: str) -> JobPosting:
    return JobPosting.model_validate(job_event(job_id)["payload"])


async def _all_posted(db: asyncpg.Pool, job_ids: list[str], per_job: int) -> str | None:
    rows = await db.fetch(
        "SELECT job_id, status FROM metrics.job_posts WHERE job_id = ANY($1::text[])", job_ids
    )
    posted = sum(r["status"] == "posted" for r in rows)
    return None if posted >= len(job_ids) * per_job else f"{posted}/{len(job_ids) * per_job} posted"


async def _results_in(db: asyncpg.Pool, post_keys: list[str]) -> str | None:
    found = await db.fetchval(
        "SELECT count(*) FROM metrics.job_posts WHERE post_key = ANY($1::text[])", post_keys
    )
    return None if found >= len(post_keys) else f"{found}/{len(post_keys)} results applied"


async def _handled(http: httpx.AsyncClient, url: str, topic: str) -> float:
    """`jobcast_records_consumed_total{topic, outcome="handled"}` of one service."""
    text = (await http.get(f"{url}/metrics")).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if (
                sample.name == "jobcast_records_consumed_total"
                and sample.labels.get("topic") == topic
                and sample.labels.get("outcome") == "handled"
            ):
                return float(sample.value)
    return 0.0


async def prepare(topic: str, db: asyncpg.Pool, pipeline: Endpoints, run: str) -> Target:
    """A tenant of its own for the topic, a valid template and the good records."""
    _, accounts = await new_tenant(db, pipeline, threads=True)
    tenant_id, fb_connection = await _ids(db, accounts[Platform.FACEBOOK])
    accounts[Platform.LINKEDIN] = str(random.randint(10_000_000, 99_999_999))
    await add_connection(
        db, TokenCipher(SecretStr(pipeline.secret_key)), tenant_id=tenant_id,
        platform=Platform.LINKEDIN, account_id=accounts[Platform.LINKEDIN],
        token=f"li-token-{accounts[Platform.LINKEDIN]}", login=LoginKind.LINKEDIN,
    )  # fmt: skip
    connections = {platform: (await _ids(db, account))[1] for platform, account in accounts.items()}
    now = datetime.now(UTC)

    def dump(model: Any) -> bytes:
        return str(model.model_dump_json()).encode()

    if topic in ("jobs.incoming", "jobs.events"):
        jobs = [f"fuzz-{run}-{topic[5:7]}-{n}" for n in range(GOOD)]
        if topic == "jobs.incoming":

            def upstream(job_id: str) -> Json:
                return {**job_event(job_id), "tenant_id": str(tenant_id),
                        "event_id": str(uuid.uuid4()), "schema_version": 1,
                        "occurred_at": now.isoformat()}  # fmt: skip

            template = upstream(f"fuzz-{run}-template")
            good = [json.dumps(upstream(j)).encode() for j in jobs]
        else:
            template = JobCreated(tenant_id=tenant_id, payload=_job("t")).model_dump(mode="json")
            good = [dump(JobCreated(tenant_id=tenant_id, payload=_job(j))) for j in jobs]
        return Target(topic, f"fuzz-{run}".encode(), tenant_id, template, good,
                      lambda: _all_posted(db, jobs, 2))  # fmt: skip

    if topic.startswith("publish.") and topic != "publish.results":
        platform = Platform(topic.removeprefix("publish."))
        connection = connections[platform]
        media = [MediaItem(kind=MediaKind.IMAGE, url="https://cdn.example.com/fuzz.jpg")]

        def command(job_id: str) -> PublishRequested:
            return PublishRequested(
                tenant_id=tenant_id,
                payload=PublishCommand(
                    post_key=_post_key(tenant_id, job_id, connection), platform=platform,
                    connection_id=connection, account_id=accounts[platform], job_id=job_id,
                    revision=1, content=PostContent(
                        text=f"Fuzz {job_id}",
                        media=media if platform is Platform.INSTAGRAM else [],
                    ),
                ),
            )  # fmt: skip

        jobs = [f"fuzz-{run}-{platform.value[:2]}-{n}" for n in range(GOOD)]
        template = command("template").model_dump(mode="json")
        good = [dump(command(j)) for j in jobs]
        return Target(topic, str(connection).encode(), tenant_id, template, good,
                      lambda: _all_posted(db, jobs, 1))  # fmt: skip

    if topic == "publish.results":

        def result(job_id: str) -> PublishCompleted:
            return PublishCompleted(
                tenant_id=tenant_id,
                payload=PublishResult(
                    post_key=_post_key(tenant_id, job_id, fb_connection),
                    platform=Platform.FACEBOOK, connection_id=fb_connection, job_id=job_id,
                    status=PublishStatus.POSTED, platform_post_id=f"fuzz-{job_id}",
                    completed_at=now,
                ),
            )  # fmt: skip

        jobs = [f"fuzz-{run}-res-{n}" for n in range(GOOD)]
        keys = [_post_key(tenant_id, j, fb_connection) for j in jobs]
        return Target(topic, f"fuzz-{run}".encode(), tenant_id,
                      result("template").model_dump(mode="json"),
                      [dump(result(j)) for j in jobs], lambda: _results_in(db, keys))  # fmt: skip

    async with httpx.AsyncClient(timeout=10) as http:
        before = {
            name: await _handled(http, pipeline.url(name), topic)
            for name in ("distributor", "publisher-facebook", "publisher-instagram")
        }

    async def handled_by_all() -> str | None:
        services = ["distributor"]
        if topic == "operator.commands":
            services += ["publisher-facebook", "publisher-instagram"]
        async with httpx.AsyncClient(timeout=10) as http:
            for name in services:
                seen = await _handled(http, pipeline.url(name), topic) - before[name]
                if seen < GOOD:
                    return f"{name} handled {seen:.0f}/{GOOD}"
        return None

    if topic == "connections.events":
        account = f"page-fuzz-{run}"
        extra = await add_connection(
            db, TokenCipher(SecretStr(pipeline.secret_key)), tenant_id=tenant_id,
            platform=Platform.FACEBOOK, account_id=account, token="token-fuzz",
        )  # fmt: skip
        cycle = [ConnectionStatus.NEEDS_RECONNECT, ConnectionStatus.ACTIVE]
        statuses = [cycle[n % 2] for n in range(GOOD - 1)] + [ConnectionStatus.DISABLED]

        def change(status: ConnectionStatus, n: int) -> ConnectionStatusChanged:
            return ConnectionStatusChanged(
                tenant_id=tenant_id, occurred_at=now + timedelta(seconds=n + 1),
                payload=ConnectionStatusChange(
                    connection_id=extra.connection_id, platform=Platform.FACEBOOK,
                    account_id=account, status=status, reason=f"fuzz {n}",
                ),
            )  # fmt: skip

        async def connection_arrived() -> str | None:
            status = await db.fetchval(
                "SELECT status FROM distributor.connections WHERE connection_id = $1",
                extra.connection_id,
            )
            if status != ConnectionStatus.DISABLED.value:
                return f"connection status {status}"
            return await handled_by_all()

        return Target(topic, str(extra.connection_id).encode(), tenant_id,
                      change(ConnectionStatus.ACTIVE, 0).model_dump(mode="json"),
                      [dump(change(s, n)) for n, s in enumerate(statuses)],
                      connection_arrived)  # fmt: skip

    if topic != "operator.commands":
        return unknown_topic(topic, tenant_id, run)
    # Pause and resume Instagram in turns, ending paused by the last actor.
    actions = [OperatorAction.PAUSE if n % 2 == 0 else OperatorAction.RESUME for n in range(GOOD)]
    assert actions[-1] is OperatorAction.PAUSE

    def command_of(action: OperatorAction, n: int) -> OperatorCommandIssued:
        return OperatorCommandIssued(
            tenant_id=tenant_id,
            payload=OperatorCommand(action=action, actor=f"fuzz-{n}", platform=Platform.INSTAGRAM),
        )

    async def operator_arrived() -> str | None:
        actor = await db.fetchval(
            "SELECT actor FROM distributor.pauses WHERE tenant_id = $1 AND scope = 'instagram'",
            tenant_id,
        )
        if actor != f"fuzz-{GOOD - 1}":
            return f"pause by {actor}"
        return await handled_by_all()

    return Target(topic, str(tenant_id).encode(), tenant_id,
                  command_of(OperatorAction.PAUSE, 0).model_dump(mode="json"),
                  [dump(command_of(a, n)) for n, a in enumerate(actions)],
                  operator_arrived)  # fmt: skip


def unknown_topic(topic: str, tenant_id: uuid.UUID, run: str) -> Target:
    """A topic added to CONSUMED after this suite: bad records only (no good-record builder
    here yet), from an envelope-shaped template, and dead letters from whichever group."""
    template = {"event_id": str(uuid.uuid4()), "event_type": f"{topic}.fuzz",
                "schema_version": 1, "occurred_at": datetime.now(UTC).isoformat(),
                "tenant_id": str(tenant_id), "payload": {"fuzz": run}}  # fmt: skip

    async def nothing_to_wait_for() -> str | None:
        return None

    return Target(topic, f"fuzz-{run}".encode(), tenant_id, template, [], nothing_to_wait_for)


async def max_message_bytes(bootstrap: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        for resource in response.resources:
            for name, value, *_ in resource[4]:
                if name == "max.message.bytes":
                    return int(value)
    except Exception:  # an older broker or another response shape: Kafka's default
        return DEFAULT_MAX_MESSAGE_BYTES
    finally:
        await admin.close()
    return DEFAULT_MAX_MESSAGE_BYTES


async def dead_letters(
    bootstrap: str,
    topic: str,
    *,
    since: dict[TopicPartition, int],
    run: str,
    done: Callable[[dict[tuple[int, str], dict[str, str]]], bool],
    seconds: float,
) -> dict[tuple[int, str], dict[str, str]]:
    """This run's dead letters of `topic` by (case, group): their headers."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_bytes=8 * 1024 * 1024,
                                max_partition_fetch_bytes=4 * 1024 * 1024)  # fmt: skip
    await consumer.start()
    found: dict[tuple[int, str], dict[str, str]] = {}
    try:
        consumer.assign(list(since))
        for partition, offset in since.items():
            consumer.seek(partition, offset)
        deadline = asyncio.get_running_loop().time() + seconds
        while not done(found) and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=300)).values():
                for record in records:
                    headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
                    if headers.get(RUN_HEADER) == run:
                        found[(int(headers[CASE_HEADER]), headers.get(h.DLQ_GROUP, ""))] = headers
    finally:
        await consumer.stop()
    return found


async def send(
    bootstrap: str, target: Target, bad: list[BadRecord], run: str
) -> list[tuple[int, BadRecord]]:
    """Interleave: good, some bad, good, ..., good (one key); returns (case, bad) sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024,
                                acks="all", linger_ms=0)  # fmt: skip
    await producer.start()
    sent: list[tuple[int, BadRecord]] = []
    goods: list[bytes | None] = [*target.good] or [None, None]
    share = -(-len(bad) // (len(goods) - 1))
    try:
        for n, good in enumerate(goods):
            if good is not None:
                await producer.send_and_wait(target.topic, good, key=target.key)
            for case, record in list(enumerate(bad))[n * share : (n + 1) * share]:
                headers = [(RUN_HEADER, run.encode()), (CASE_HEADER, str(case).encode()),
                           *record.headers]  # fmt: skip
                value = record.value
                while True:
                    try:
                        await producer.send_and_wait(
                            target.topic, value, key=target.key, headers=headers
                        )
                        break
                    except MessageSizeTooLargeError:  # near the limit: a little smaller
                        assert value is not None
                        assert len(value) > 4096
                        value = value[:-1024]
                sent.append((case, record))
    finally:
        await producer.stop()
    return sent


@pytest.mark.parametrize("topic", [spec.name for spec in CONSUMED])
async def test_bad_records_are_dead_lettered_and_good_ones_flow(
    topic: str, db: asyncpg.Pool, running: RunningPipeline, tally: Tally
) -> None:
    seed = SEED if SEED is not None else random.getrandbits(32)
    print(f"fuzz seed {seed} (JOBCAST_FUZZ_SEED={seed} repeats this run)")
    recipes = draw(mutations, GENERATED, seed)
    pipeline = running.endpoints
    bootstrap = pipeline.kafka_bootstrap_servers
    run = uuid.uuid4().hex[:10]
    target = await prepare(topic, db, pipeline, run)
    # As large as the broker takes (send() trims it until it does): with the reason headers
    # added, its dead letter no longer fits, and must be parked truncated, not retried.
    huge = await max_message_bytes(bootstrap, topic) - 200
    bad = [*hand_picked(topic, target.template, huge),
           *generated(topic, target.template, recipes, target.tenant_id)]  # fmt: skip
    dlq = dead_letter_topic(topic)
    since = await log_ends(bootstrap, await topic_partitions(bootstrap, [dlq]))
    sent = await send(bootstrap, target, bad, run)
    labels = dict(sent)
    groups = GROUPS.get(topic)
    if groups is None:  # a topic this suite does not know: whichever group reads it
        letters = await dead_letters(
            bootstrap, dlq, since=since, run=run, seconds=10,
            done=lambda found: len({case for case, _ in found}) >= len(sent),
        )  # fmt: skip
        if not letters:
            pytest.skip(f"nothing dead-letters {topic} yet (no consumer?); name its groups "
                        "and good records in tests/suites/fuzz.py")  # fmt: skip
        groups = frozenset(group for _, group in letters)
    wanted = {(case, group) for case, _ in sent for group in groups}
    letters = await dead_letters(
        bootstrap, dlq, since=since, run=run, done=lambda found: wanted <= found.keys(), seconds=60
    )
    absent = sorted(wanted - letters.keys())
    assert not absent, "not dead-lettered: " + "; ".join(
        f"{labels[case].label} (group {group})" for case, group in absent[:15]
    )
    for (case, group), headers in letters.items():
        where = f"{labels[case].label} (group {group})"
        assert headers[h.DLQ_TOPIC] == topic, where
        assert headers[h.DLQ_REASON].strip(), f"{where}: no reason"
        assert int(headers[h.DLQ_OFFSET]) >= 0, where

    waiting: str | None = "not checked"
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(60):
            while (waiting := await target.arrived()) is not None:
                await asyncio.sleep(0.3)
    assert waiting is None, f"good records of {topic} did not all arrive: {waiting}"

    async with httpx.AsyncClient(timeout=10) as http:
        for name, process in running.processes.items():
            assert process.pid is not None, f"{name} died:\n{process.log_tail()}"
            if name != "graph-sandbox":
                assert (await http.get(f"{pipeline.url(name)}/healthz")).status_code == 200, name
    if topic not in tally.topics:
        tally.topics.append(topic)
    tally.bad += len(sent)
    tally.letters += len(letters)
    tally.good += len(target.good)

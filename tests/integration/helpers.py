"""Helpers for tests that drive the running pipeline."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr, ValidationError

from devtools.stack import Endpoints
from jobcast.crypto import TokenCipher
from jobcast.graph.hosts import LoginKind
from jobcast.kafka import polling
from jobcast.tenancy import create_tenant, migrate_tenancy
from jobcast.topics import PUBLISH_RESULTS
from schemas import Platform, PublishCompleted
from services.distributor.repo import add_connection, migrate_distributor

T = TypeVar("T")
# How a test's connection of each platform was made (the host its token works on).
LOGINS = {Platform.THREADS: LoginKind.THREADS}


async def new_tenant(
    db: asyncpg.Pool, pipeline: Endpoints, *, instagram: bool = True, threads: bool = False
) -> tuple[dict[str, str], dict[Platform, str]]:
    """A tenant with a Facebook Page and (optionally) an Instagram account and a Threads
    profile (connected with Threads' login); returns auth + ids."""
    await migrate_tenancy(db)
    await migrate_distributor(db)
    tenant, api_key = await create_tenant(db, f"t-{uuid.uuid4().hex[:10]}")
    cipher = TokenCipher(SecretStr(pipeline.secret_key))
    accounts = {Platform.FACEBOOK: f"page-{uuid.uuid4().hex[:8]}"}
    if instagram:
        accounts[Platform.INSTAGRAM] = f"ig-{uuid.uuid4().hex[:8]}"
    if threads:
        accounts[Platform.THREADS] = f"th-{uuid.uuid4().hex[:8]}"
    for platform, account_id in accounts.items():
        await add_connection(
            db,
            cipher,
            tenant_id=tenant.tenant_id,
            platform=platform,
            account_id=account_id,
            token=f"token-{account_id}",
            login=LOGINS.get(platform, LoginKind.FACEBOOK),
        )
    return {"Authorization": f"Bearer {api_key}"}, accounts


def job_event(job_id: str, **changes: Any) -> dict[str, Any]:
    payload = {
        "job_id": job_id,
        "title": f"Line cook {job_id}",
        "company": "Warung Laut",
        "location": "Canggu, Bali",
        "employment_type": "daily",
        "apply_url": f"https://jobs.example.com/{job_id}",
        "image_url": f"https://jobs.example.com/{job_id}.jpg",
        **changes,
    }
    return {"event_type": "job.created", "payload": payload}


async def wait_for_posts(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], job_id: str, count: int
) -> list[dict[str, Any]]:
    """Poll the read API until `count` posts of the job have left the in-flight states."""
    async with asyncio.timeout(60):
        while True:
            response = await http.get(
                f"{pipeline.url('metrics')}/v1/jobs/{job_id}/posts", headers=auth
            )
            assert response.status_code == 200, response.text
            posts: list[dict[str, Any]] = response.json()["posts"]
            if len(posts) >= count:
                return posts
            await asyncio.sleep(0.2)


async def ledger(http: httpx.AsyncClient, pipeline: Endpoints, account_id: str) -> list[Any]:
    """What exists on the platform for an account now: live FB posts, IG media, threads
    (not replies: like comments elsewhere, they are no posts)."""
    response = await http.get(
        f"{pipeline.graph_api_url}/_sandbox/ledger",
        params={"account_id": account_id, "include_deleted": "false"},
    )
    assert response.status_code == 200
    body = response.json()
    threads = [t for t in body["threads_media"] if t["reply_to_id"] is None]
    return [*body["fb_posts"], *body["ig_media"], *threads]


async def committed(admin: AIOKafkaAdminClient, group: str) -> dict[int, int]:
    """The group's committed offset of each partition that has one."""
    offsets = await admin.list_consumer_group_offsets(group)
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def send_raw(
    bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]
) -> None:
    """Write (key, value) records to `topic` as they are, in this order: what upstream, a
    replay or a broken producer may put there, past every check a service makes."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str,
    topic: str,
    pick: Callable[[Any], T | None],
    *,
    until: Callable[[list[T]], bool] | None = None,
    for_seconds: float | None = None,
) -> list[T]:
    """Read `topic` from the start with a fresh group, keeping what `pick` returns.

    Stops when `until(kept)` holds (60 s at most), or after `for_seconds` when a test
    wants to see that nothing more arrives.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"test-reader-{uuid.uuid4()}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    kept: list[T] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (for_seconds if for_seconds is not None else 60.0)
    try:
        while loop.time() < deadline:
            if until is not None and until(kept):
                return kept
            for records in (await consumer.getmany(timeout_ms=300)).values():
                kept.extend(item for item in map(pick, records) if item is not None)
    finally:
        await consumer.stop()
    if until is not None and not until(kept):
        raise TimeoutError(f"{topic}: condition not met; kept {len(kept)} records")
    return kept


async def results_of(
    pipeline: Endpoints, job_id: str, until: Callable[[list[PublishCompleted]], bool]
) -> list[PublishCompleted]:
    """Every publish result of a job, in topic order, read until `until` holds (≤ 60 s)."""

    def pick(record: Any) -> PublishCompleted | None:
        try:
            event = PublishCompleted.model_validate_json(record.value)
        except ValidationError:
            return None  # other tests put garbage on the topic on purpose
        return event if event.payload.job_id == job_id else None

    return await read_topic(pipeline.kafka_bootstrap_servers, PUBLISH_RESULTS, pick, until=until)


async def add_fault(http: httpx.AsyncClient, pipeline: Endpoints, **rule: Any) -> None:
    response = await http.post(f"{pipeline.graph_api_url}/_sandbox/faults", json=rule)
    assert response.status_code == 201, response.text


async def wait_until(condition: Callable[[], bool], within: float, what: str) -> None:
    """Poll `condition` every 20 ms until it holds; fail naming `what` after `within` s."""
    try:
        async with asyncio.timeout(within):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def long_fetch_in_flight(fetcher: Any) -> None:
    """Until an aiokafka fetcher takes the idle waits (`jobcast.kafka.polling.FetchPacing`),
    and a moment more: a fetch with the idle wait is out then."""
    idle_ms = polling.IDLE_FETCH_WAIT_MS
    await wait_until(lambda: fetcher._fetch_max_wait_ms == idle_ms, 10, "idle fetches")
    await asyncio.sleep(0.5)

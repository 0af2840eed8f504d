"""Builders and waits shared by the metrics integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer
from pydantic import BaseModel, ValidationError

from jobcast.kafka import topic_partitions
from jobcast.tenancy import create_tenant, migrate_tenancy
from jobcast.topics import PUBLISH_RESULTS
from schemas import (
    ErrorClass,
    Platform,
    PublishCompleted,
    PublishError,
    PublishResult,
    PublishStatus,
    make_post_key,
)
from services.metrics.readmodel.repo import migrate_metrics
from tests.integration.helpers import send_raw

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


async def api_tenant(db: asyncpg.Pool) -> tuple[uuid.UUID, dict[str, str]]:
    """A fresh tenant and the Authorization header of its key."""
    await migrate_tenancy(db)
    await migrate_metrics(db)
    tenant, api_key = await create_tenant(db, f"m-{uuid.uuid4().hex[:10]}")
    return tenant.tenant_id, {"Authorization": f"Bearer {api_key}"}


def result(
    tenant: uuid.UUID,
    job_id: str,
    connection: uuid.UUID,
    status: PublishStatus,
    *,
    attempt: int = 1,
    at: datetime = T0,
    platform: Platform = Platform.FACEBOOK,
    revision: int = 1,
    **fields: Any,
) -> PublishCompleted:
    """A publish result as a publisher (attempt >= 1) or the distributor (0) reports it."""
    if status is PublishStatus.POSTED:
        post_id = fields.pop("platform_post_id", f"{uuid.uuid4().int % 10**12}")
        fields = {
            "platform_post_id": post_id,
            "permalink": f"https://social.example.com/{post_id}",
            **fields,
        }
    if status in (PublishStatus.FAILED, PublishStatus.RETRY_SCHEDULED) and "error" not in fields:
        fields["error"] = PublishError(error_class=ErrorClass.TRANSIENT, code=2, message="boom")
    return PublishCompleted(
        tenant_id=tenant,
        occurred_at=at,
        payload=PublishResult(
            post_key=make_post_key(tenant, job_id, connection, revision),
            platform=platform,
            connection_id=connection,
            job_id=job_id,
            status=status,
            attempt=attempt,
            completed_at=at,
            **fields,
        ),
    )


async def produce(
    bootstrap: str, topic: str, events: Sequence[BaseModel], key: Callable[[Any], str]
) -> None:
    """Write `events` in this order (same key, same partition: the order is kept)."""
    await send_raw(
        bootstrap, topic, [(key(e).encode(), e.model_dump_json().encode()) for e in events]
    )


async def produce_results(bootstrap: str, events: Sequence[PublishCompleted]) -> None:
    await produce(bootstrap, PUBLISH_RESULTS, events, lambda e: e.payload.post_key)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], *, timeout: float = 30.0, every: float = 0.2
) -> T:
    """Poll `probe` until it returns something other than None (or time out)."""
    async with asyncio.timeout(timeout):
        while True:
            value = await probe()
            if value is not None:
                return value
            await asyncio.sleep(every)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


async def valid_records(bootstrap: str, topic: str, model: type[M]) -> list[M]:
    """Every record of `topic` up to its current end that validates as `model`."""
    partitions = await topic_partitions(bootstrap, [topic])
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    kept: list[M] = []
    try:
        consumer.assign(partitions)
        end = await consumer.end_offsets(partitions)
        begin = await consumer.beginning_offsets(partitions)
        for tp in partitions:  # (seek_to_beginning after end_offsets can leave it stuck)
            consumer.seek(tp, begin[tp])
        remaining = {tp for tp in partitions if end[tp] > begin[tp]}
        async with asyncio.timeout(60):
            while remaining:
                for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                    for record in records:
                        if record.offset < end[tp]:
                            with contextlib.suppress(ValidationError):
                                kept.append(model.model_validate_json(record.value or b""))
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
    finally:
        await consumer.stop()
    return kept

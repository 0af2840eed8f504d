"""Materialising results is idempotent and never regresses a post."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from schemas import (
    ErrorClass,
    Platform,
    PublishCompleted,
    PublishError,
    PublishResult,
    PublishStatus,
    make_post_key,
)
from services.metrics.readmodel.repo import apply_result, migrate_metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def completed(
    tenant: uuid.UUID, connection: uuid.UUID, status: PublishStatus, attempt: int
) -> PublishCompleted:
    error = (
        None
        if status is PublishStatus.POSTED
        else PublishError(error_class=ErrorClass.TRANSIENT, message="boom")
    )
    return PublishCompleted(
        tenant_id=tenant,
        payload=PublishResult(
            post_key=make_post_key(tenant, "job-rm", connection, 1),
            platform=Platform.FACEBOOK,
            connection_id=connection,
            job_id="job-rm",
            status=status,
            attempt=attempt,
            platform_post_id="1_2" if status is PublishStatus.POSTED else None,
            permalink="https://facebook.com/1_2" if status is PublishStatus.POSTED else None,
            error=error,
            completed_at=datetime.now(UTC),
        ),
    )


async def status_of(db: asyncpg.Pool, post_key: str) -> tuple[str, int, str | None]:
    row = await db.fetchrow(
        "SELECT status, attempt, permalink FROM metrics.job_posts WHERE post_key = $1", post_key
    )
    assert row is not None
    return row["status"], row["attempt"], row["permalink"]


async def test_duplicates_and_stale_results_do_not_regress(db: asyncpg.Pool) -> None:
    await migrate_metrics(db)
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    failed_first = completed(tenant, connection, PublishStatus.FAILED, 1)
    posted = completed(tenant, connection, PublishStatus.POSTED, 2)
    key = posted.payload.post_key

    assert await apply_result(db, failed_first)
    assert await status_of(db, key) == ("failed", 1, None)
    assert await apply_result(db, posted)
    assert await status_of(db, key) == ("posted", 2, "https://facebook.com/1_2")

    assert not await apply_result(db, posted)  # same event again: a no-op
    assert await apply_result(db, completed(tenant, connection, PublishStatus.FAILED, 1))
    assert await status_of(db, key) == ("posted", 2, "https://facebook.com/1_2")
    unconfirmed_late = completed(tenant, connection, PublishStatus.UNCONFIRMED, 2)
    assert await apply_result(db, unconfirmed_late)
    assert await status_of(db, key) == ("posted", 2, "https://facebook.com/1_2")

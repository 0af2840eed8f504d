"""The read model is a function of the set of results: order, batching and duplicates
do not change it, and stale results never regress a post."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

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
from services.metrics.readmodel.handlers import ResultMaterialiser
from services.metrics.readmodel.repo import migrate_metrics

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
S = PublishStatus


def lifecycle(tenant: uuid.UUID, connection: uuid.UUID, job_id: str) -> list[PublishCompleted]:
    """Scheduled, a transient failure (retry), an ambiguous try, then posted (re-emitted)."""
    key = make_post_key(tenant, job_id, connection, 1)
    steps: list[tuple[PublishStatus, int, int, dict[str, Any]]] = [
        (S.SCHEDULED, 0, 0, {"next_attempt_at": T0 + timedelta(minutes=30)}),
        (
            S.RETRY_SCHEDULED,
            2,
            31,
            {
                "error": PublishError(error_class=ErrorClass.TRANSIENT, code=2, message="retry"),
                "http_status": 500,
                "latency_ms": 120,
                "next_attempt_at": T0 + timedelta(minutes=32),
            },
        ),
        (
            S.UNCONFIRMED,
            2,
            32,
            {"error": PublishError(error_class=ErrorClass.TRANSIENT, message="timed out")},
        ),
        (
            S.POSTED,
            2,
            33,
            {
                "platform_post_id": "10_20",
                "permalink": "https://facebook.com/10_20",
                "http_status": 200,
                "latency_ms": 80,
                "requested_at": T0 + timedelta(minutes=30),
            },
        ),
    ]
    events = [
        PublishCompleted(
            tenant_id=tenant,
            occurred_at=T0 + timedelta(minutes=minute),
            payload=PublishResult(
                post_key=key,
                platform=Platform.FACEBOOK,
                connection_id=connection,
                job_id=job_id,
                status=status,
                attempt=attempt,
                completed_at=T0 + timedelta(minutes=minute),
                **fields,
            ),
        )
        for status, attempt, minute, fields in steps
    ]
    return [*events, events[-1]]  # a publisher re-emits a stored result with its own id


_IDS = {"post_key", "tenant_id", "connection_id", "status_event_id", "event_id"}


async def snapshot(
    db: asyncpg.Pool, tenant: uuid.UUID, events: list[PublishCompleted]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The tenant's post row and attempt rows, with ids replaced by the event's position."""
    position = {e.event_id: i for i, e in enumerate(events)}
    post = await db.fetchrow("SELECT * FROM metrics.job_posts WHERE tenant_id = $1", tenant)
    assert post is not None
    attempts = await db.fetch(
        "SELECT * FROM metrics.delivery_attempts WHERE tenant_id = $1 ORDER BY occurred_at",
        tenant,
    )
    row = {k: v for k, v in post.items() if k not in _IDS}
    row["winner"] = position[post["status_event_id"]]
    return row, [
        {**{k: v for k, v in a.items() if k not in _IDS}, "event": position[a["event_id"]]}
        for a in attempts
    ]


def renamed(events: list[PublishCompleted], tenant: uuid.UUID) -> list[PublishCompleted]:
    """The same events for another tenant (new keys and ids, same times and outcomes)."""
    connection = uuid.uuid4()
    key = make_post_key(tenant, events[0].payload.job_id, connection, 1)
    ids: dict[uuid.UUID, uuid.UUID] = {}
    return [
        e.model_copy(
            update={
                "tenant_id": tenant,
                "event_id": ids.setdefault(e.event_id, uuid.uuid4()),
                "payload": e.payload.model_copy(
                    update={"post_key": key, "connection_id": connection}
                ),
            }
        )
        for e in events
    ]


async def test_any_order_and_batching_gives_the_same_rows(db: asyncpg.Pool) -> None:
    await migrate_metrics(db)
    materialise = ResultMaterialiser(db, effects=())
    base_tenant = uuid.uuid4()
    base = lifecycle(base_tenant, uuid.uuid4(), "job-order")
    await materialise.apply(base)  # one batch, topic order
    expected = await snapshot(db, base_tenant, base)
    await assert_order_free(db, materialise, base, expected)

    row, attempts = expected
    assert row["status"] == "posted"
    assert row["attempt"] == 2
    assert row["permalink"] == "https://facebook.com/10_20"
    assert row["first_seen_at"] == T0
    assert row["scheduled_for"] == T0 + timedelta(minutes=30)
    assert row["requested_at"] == T0 + timedelta(minutes=30)
    assert row["first_attempt_at"] == T0 + timedelta(minutes=31)
    assert row["unconfirmed_at"] == T0 + timedelta(minutes=32)
    assert row["posted_at"] == T0 + timedelta(minutes=33)
    assert row["failed_at"] is None
    assert row["attempt_count"] == 3  # the re-emitted result is not a new attempt
    assert row["error_class"] is None  # the current state (posted) has no error
    assert [a["outcome"] for a in attempts] == ["retry_scheduled", "unconfirmed", "posted"]
    assert [a["http_status"] for a in attempts] == [500, None, 200]
    assert attempts[0]["error_code"] == 2
    assert attempts[2]["latency_ms"] == 80


async def test_ties_on_rank_and_attempt_go_to_the_later_result(db: asyncpg.Pool) -> None:
    """retry_scheduled and unconfirmed share rank and attempt: the later one is current."""
    await migrate_metrics(db)
    materialise = ResultMaterialiser(db, effects=())
    base_tenant = uuid.uuid4()
    base = lifecycle(base_tenant, uuid.uuid4(), "job-tie")[:3]
    await materialise.apply(base)
    expected = await snapshot(db, base_tenant, base)
    assert expected[0]["status"] == "unconfirmed"
    assert expected[0]["winner"] == 2
    assert expected[0]["next_attempt_at"] is None
    assert expected[0]["error_message"] == "timed out"
    await assert_order_free(db, materialise, base, expected)


async def assert_order_free(
    db: asyncpg.Pool,
    materialise: ResultMaterialiser,
    base: list[PublishCompleted],
    expected: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """Shuffled, split in two batches and partly redelivered, the rows come out the same."""
    rng = random.Random(7)
    for _ in range(8):
        tenant = uuid.uuid4()
        events = renamed(base, tenant)
        shuffled = events[:]
        rng.shuffle(shuffled)
        cut = rng.randrange(1, len(shuffled))
        for part in (shuffled[:cut], shuffled[cut:], shuffled[: rng.randrange(1, len(shuffled))]):
            for event in part:  # one at a time: every merge path is taken
                await materialise.apply([event])
        assert await snapshot(db, tenant, events) == expected


async def test_stale_results_do_not_regress_and_duplicates_are_noops(db: asyncpg.Pool) -> None:
    await migrate_metrics(db)
    materialise = ResultMaterialiser(db, effects=())
    tenant = uuid.uuid4()
    scheduled, retry, unconfirmed, posted, _ = lifecycle(tenant, uuid.uuid4(), "job-stale")

    changes = await materialise.apply([posted])
    assert [(c.status, c.previous_status) for c in changes] == [("posted", None)]
    assert await materialise.apply([retry, unconfirmed, scheduled]) == []  # older: no change
    assert await materialise.apply([posted, posted]) == []  # already applied
    row = await db.fetchrow(
        "SELECT status, attempt, attempt_count, failed_at, scheduled_for, posted_at"
        " FROM metrics.job_posts WHERE tenant_id = $1",
        tenant,
    )
    assert row is not None
    assert (row["status"], row["attempt"], row["attempt_count"]) == ("posted", 2, 3)
    assert row["scheduled_for"] == T0 + timedelta(minutes=30)  # history still recorded
    assert row["posted_at"] == T0 + timedelta(minutes=33)
    count = await db.fetchval(
        "SELECT count(*) FROM metrics.delivery_attempts WHERE tenant_id = $1", tenant
    )
    assert count == 3


async def test_failure_then_operator_retry_moves_forward(db: asyncpg.Pool) -> None:
    await migrate_metrics(db)
    materialise = ResultMaterialiser(db, effects=())
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    key = make_post_key(tenant, "job-retry", connection, 1)

    def result(status: PublishStatus, attempt: int, minute: int) -> PublishCompleted:
        error = (
            PublishError(error_class=ErrorClass.PERMANENT, code=100, message="bad")
            if status is S.FAILED
            else None
        )
        return PublishCompleted(
            tenant_id=tenant,
            payload=PublishResult(
                post_key=key,
                platform=Platform.INSTAGRAM,
                connection_id=connection,
                job_id="job-retry",
                status=status,
                attempt=attempt,
                error=error,
                platform_post_id="m1" if status is S.POSTED else None,
                completed_at=T0 + timedelta(minutes=minute),
            ),
        )

    first_failure = result(S.FAILED, 1, 1)
    second_failure = result(S.FAILED, 2, 5)
    posted = result(S.POSTED, 3, 9)
    changes = await materialise.apply([first_failure])
    assert [(c.status, c.error_code) for c in changes] == [("failed", 100)]
    changes = await materialise.apply([posted, second_failure])  # one batch, out of order
    assert [(c.status, c.previous_status, c.attempt) for c in changes] == [
        ("failed", "failed", 2),
        ("posted", "failed", 3),
    ]
    row = await db.fetchrow(
        "SELECT status, failed_at, posted_at, attempt_count, error_class"
        " FROM metrics.job_posts WHERE post_key = $1",
        key,
    )
    assert row is not None
    assert row["status"] == "posted"
    assert row["failed_at"] == T0 + timedelta(minutes=5)  # the last failure
    assert row["attempt_count"] == 3
    assert row["error_class"] is None


async def test_one_batch_yields_every_transition_in_order(db: asyncpg.Pool) -> None:
    await migrate_metrics(db)
    materialise = ResultMaterialiser(db, effects=())
    tenant = uuid.uuid4()
    scheduled, retry, unconfirmed, posted, again = lifecycle(tenant, uuid.uuid4(), "job-one")
    changes = await materialise.apply([posted, unconfirmed, again, scheduled, retry])
    assert [(c.previous_status, c.status, c.attempt) for c in changes] == [
        (None, "scheduled", 0),
        ("scheduled", "retry_scheduled", 2),
        ("retry_scheduled", "unconfirmed", 2),
        ("unconfirmed", "posted", 2),
    ]
    assert changes[-1].permalink == "https://facebook.com/10_20"
    assert all(c.posted_at == T0 + timedelta(minutes=33) for c in changes)

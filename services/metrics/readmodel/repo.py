"""The read model's SQL (schema `metrics`): migrations and the read API's queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from jobcast.db import migrate, migrations_of
from schemas.publish import PublishCompleted
from services.metrics.readmodel.domain import METRIC_NAMES
from services.metrics.readmodel.materialise import apply_results


async def migrate_metrics(pool: asyncpg.Pool) -> None:
    """Create or update the read-model tables."""
    await migrate(pool, "metrics", migrations_of("services.metrics"))


async def apply_result(pool: asyncpg.Pool, event: PublishCompleted) -> bool:
    """Materialise one result on its own; False if this event was already applied."""
    async with pool.acquire() as conn, conn.transaction():
        fresh = await conn.fetchval(
            "SELECT count(*) = 0 FROM metrics.processed_events WHERE event_id = $1",
            event.event_id,
        )
        await apply_results(conn, [event])
    return bool(fresh)


_POST_COLUMNS = """post_key, job_id, platform, connection_id, action, status, attempt,
    attempt_count, platform_post_id, permalink, error_class, error_code, error_subcode,
    error_message, first_seen_at, requested_at, scheduled_for, awaiting_approval_at,
    held_at, first_attempt_at, posted_at, unconfirmed_at, failed_at, cancelled_at,
    skipped_at, edited_at, deleted_at, next_attempt_at, status_changed_at, last_event_at,
    media_format, media_images, media_videos, first_comment"""

_ATTEMPT_COLUMNS = """event_id, post_key, attempt, outcome, error_class, error_code,
    error_subcode, error_message, http_status, latency_ms, platform_post_id, permalink,
    next_attempt_at, occurred_at"""


async def posts_of_job(pool: asyncpg.Pool, tenant_id: UUID, job_id: str) -> list[dict[str, Any]]:
    """A job's posts with their attempts, for the tenant that owns them only."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT {_POST_COLUMNS} FROM metrics.job_posts
               WHERE tenant_id = $1 AND job_id = $2
               ORDER BY platform, connection_id, first_seen_at, post_key""",
            tenant_id,
            job_id,
        )
        attempts = await conn.fetch(
            f"""SELECT {_ATTEMPT_COLUMNS} FROM metrics.delivery_attempts
               WHERE tenant_id = $1 AND job_id = $2 ORDER BY occurred_at, attempt, event_id""",
            tenant_id,
            job_id,
        )
    by_post: dict[str, list[dict[str, Any]]] = {}
    for attempt in attempts:
        by_post.setdefault(attempt["post_key"], []).append(dict(attempt))
    return [{**dict(r), "attempts": by_post.get(r["post_key"], [])} for r in rows]


async def list_posts(
    pool: asyncpg.Pool,
    tenant_id: UUID,
    *,
    status: str | None,
    platform: str | None,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The tenant's posts newest first (by first_seen_at, post_key), after a keyset cursor."""
    rows = await pool.fetch(
        f"""SELECT {_POST_COLUMNS} FROM metrics.job_posts
           WHERE tenant_id = $1
             AND ($2::text IS NULL OR status = $2)
             AND ($3::text IS NULL OR platform = $3)
             AND ($4::timestamptz IS NULL OR first_seen_at >= $4)
             AND ($5::timestamptz IS NULL OR first_seen_at < $5)
             AND ($6::timestamptz IS NULL OR (first_seen_at, post_key) < ($6, $7::text))
           ORDER BY first_seen_at DESC, post_key DESC
           LIMIT $8""",
        tenant_id,
        status,
        platform,
        since,
        until,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [dict(r) for r in rows]


GROUP_KEYS = {
    "platform": "p.platform",
    "day": "to_char(p.first_seen_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    "job": "p.job_id",
}
# Waiting time from the publish command to the post being live (never negative).
# (GREATEST ignores NULLs, hence the CASE: posts never published must stay out.)
_TIME_TO_PUBLISH = """CASE WHEN p.posted_at IS NOT NULL THEN GREATEST(0,
    extract(epoch FROM p.posted_at - COALESCE(p.requested_at, p.first_seen_at))) END"""


async def analytics(
    pool: asyncpg.Pool, tenant_id: UUID, group_by: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Per group: posts by status, time to publish, engagement sums (publishes only)."""
    key = GROUP_KEYS[group_by]
    window = """FROM metrics.job_posts p
        WHERE p.tenant_id = $1 AND p.action = 'publish'
          AND p.first_seen_at >= $2 AND p.first_seen_at < $3"""
    sums = ", ".join(f"sum(e.{f})::bigint AS {f}" for f in METRIC_NAMES)
    async with pool.acquire() as conn:
        counts = await conn.fetch(
            f"SELECT {key} AS key, p.status, count(*)::int AS n {window} GROUP BY 1, 2",
            tenant_id,
            start,
            end,
        )
        stats = await conn.fetch(
            f"""SELECT {key} AS key,
                   count(*)::int AS posts,
                   count(p.posted_at)::int AS published,
                   avg({_TIME_TO_PUBLISH})::float8 AS ttp_avg,
                   (percentile_cont(0.5) WITHIN GROUP (ORDER BY {_TIME_TO_PUBLISH}))::float8
                       AS ttp_p50,
                   (percentile_cont(0.95) WITHIN GROUP (ORDER BY {_TIME_TO_PUBLISH}))::float8
                       AS ttp_p95,
                   count(e.post_key)::int AS measured,
                   {sums},
                   COALESCE(sum(wc.n), 0)::bigint AS webhook_comments
               FROM metrics.job_posts p
               LEFT JOIN metrics.engagement_latest e USING (post_key)
               LEFT JOIN LATERAL (
                   SELECT count(*) AS n FROM metrics.webhook_comments w
                   WHERE w.platform_post_id = p.platform_post_id AND w.platform = p.platform
                     AND NOT w.removed
               ) wc ON p.platform_post_id IS NOT NULL
               WHERE p.tenant_id = $1 AND p.action = 'publish'
                 AND p.first_seen_at >= $2 AND p.first_seen_at < $3
               GROUP BY 1 ORDER BY 1""",
            tenant_id,
            start,
            end,
        )
    by_status: dict[str, dict[str, int]] = {}
    for row in counts:
        by_status.setdefault(row["key"], {})[row["status"]] = row["n"]
    return [{**dict(r), "by_status": by_status.get(r["key"], {})} for r in stats]


async def engagement_of_job(
    pool: asyncpg.Pool, tenant_id: UUID, job_id: str
) -> dict[str, dict[str, Any]]:
    """Per post key of the job: the latest snapshot, its history, and webhook comments."""
    columns = ", ".join(METRIC_NAMES)
    async with pool.acquire() as conn:
        latest = await conn.fetch(
            f"""SELECT l.post_key, l.checkpoint_seconds, l.collected_at, {columns},
                   (SELECT count(*) FROM metrics.webhook_comments w
                    WHERE w.platform = l.platform AND w.platform_post_id = l.platform_post_id
                      AND NOT w.removed)::int AS webhook_comments
               FROM metrics.engagement_latest l WHERE l.tenant_id = $1 AND l.job_id = $2""",
            tenant_id,
            job_id,
        )
        history = await conn.fetch(
            f"""SELECT post_key, checkpoint_seconds, collected_at, {columns}
               FROM metrics.engagement_snapshots WHERE tenant_id = $1 AND job_id = $2
               ORDER BY checkpoint_seconds, collected_at, event_id""",
            tenant_id,
            job_id,
        )
    found: dict[str, dict[str, Any]] = {r["post_key"]: {**dict(r), "history": []} for r in latest}
    for snapshot in history:
        if snapshot["post_key"] in found:
            found[snapshot["post_key"]]["history"].append(dict(snapshot))
    return found

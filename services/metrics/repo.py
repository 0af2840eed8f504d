"""The read model's SQL (schema `metrics`)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from jobcast.db import migrate, migrations_of
from schemas.publish import PublishCompleted
from services.metrics.domain import STATUS_RANK


async def migrate_metrics(pool: asyncpg.Pool) -> None:
    """Create or update the read-model tables."""
    await migrate(pool, "metrics", migrations_of("services.metrics"))


# A result replaces the stored one only if it is further along, or a later attempt at
# the same stage. The rule lives in the statement itself so concurrent writers cannot
# interleave between a read and a write.
_UPSERT = """
INSERT INTO metrics.job_posts AS p (
    post_key, tenant_id, job_id, connection_id, platform, status, status_rank, attempt,
    platform_post_id, permalink, error_class, error_code, error_subcode, error_message,
    last_event_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
ON CONFLICT (post_key) DO UPDATE SET
    status = EXCLUDED.status, status_rank = EXCLUDED.status_rank, attempt = EXCLUDED.attempt,
    platform_post_id = COALESCE(EXCLUDED.platform_post_id, p.platform_post_id),
    permalink = COALESCE(EXCLUDED.permalink, p.permalink),
    error_class = EXCLUDED.error_class, error_code = EXCLUDED.error_code,
    error_subcode = EXCLUDED.error_subcode, error_message = EXCLUDED.error_message,
    last_event_at = EXCLUDED.last_event_at, updated_at = now()
WHERE (EXCLUDED.status_rank, EXCLUDED.attempt) >= (p.status_rank, p.attempt)
"""


async def apply_result(pool: asyncpg.Pool, event: PublishCompleted) -> bool:
    """Materialise one result; False if this event was already applied."""
    result = event.payload
    error = result.error
    async with pool.acquire() as conn, conn.transaction():
        fresh = await conn.fetchval(
            "INSERT INTO metrics.processed_events (event_id) VALUES ($1)"
            " ON CONFLICT DO NOTHING RETURNING true",
            event.event_id,
        )
        if not fresh:
            return False
        await conn.execute(
            _UPSERT,
            result.post_key,
            event.tenant_id,
            result.job_id,
            result.connection_id,
            result.platform.value,
            result.status.value,
            STATUS_RANK[result.status],
            result.attempt,
            result.platform_post_id,
            str(result.permalink) if result.permalink else None,
            error.error_class.value if error else None,
            error.code if error else None,
            error.subcode if error else None,
            error.message if error else None,
            result.completed_at,
        )
    return True


async def posts_of_job(pool: asyncpg.Pool, tenant_id: UUID, job_id: str) -> list[dict[str, Any]]:
    """A job's posts, one per connection, for the tenant that owns them only."""
    rows = await pool.fetch(
        """SELECT post_key, platform, connection_id, status, attempt, platform_post_id,
                  permalink, error_class, error_code, error_subcode, error_message, updated_at
           FROM metrics.job_posts WHERE tenant_id = $1 AND job_id = $2
           ORDER BY platform, connection_id""",
        tenant_id,
        job_id,
    )
    return [dict(r) for r in rows]

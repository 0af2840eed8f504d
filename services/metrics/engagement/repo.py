"""The engagement collector's SQL (schema `metrics`): its timers, and comments counted from
Meta's webhooks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from services.metrics.engagement.domain import due_checkpoints
from services.metrics.readmodel.handlers import ChangeEffect
from services.metrics.readmodel.models import StatusChange

if TYPE_CHECKING:
    from jobcast.db import Connection

_SCHEDULE = """
INSERT INTO metrics.engagement_schedule (post_key, checkpoint_seconds, tenant_id, job_id,
    connection_id, platform, platform_post_id, posted_at, next_try_at)
SELECT post_key, checkpoint, tenant_id, job_id, connection_id, platform, platform_post_id,
       posted_at, posted_at + make_interval(secs => checkpoint)
FROM unnest($1::text[], $2::integer[], $3::uuid[], $4::text[], $5::uuid[], $6::text[],
            $7::text[], $8::timestamptz[])
    AS s(post_key, checkpoint, tenant_id, job_id, connection_id, platform, platform_post_id,
         posted_at)
ON CONFLICT (post_key, checkpoint_seconds) DO NOTHING
"""


def engagement_scheduler(checkpoints: Sequence[int]) -> ChangeEffect:
    """Timers for every checkpoint of each post that has just been posted."""

    async def schedule(conn: Connection, changes: Sequence[StatusChange]) -> None:
        rows = [
            (c.post_key, seconds, c.tenant_id, c.job_id, c.connection_id, c.platform,
             c.platform_post_id, c.posted_at)
            for c in changes
            for seconds in due_checkpoints(c.status, c.previous_status, c.action, checkpoints)
            if c.platform_post_id and c.posted_at
        ]  # fmt: skip
        if rows:
            await conn.execute(_SCHEDULE, *[list(col) for col in zip(*rows, strict=True)])

    return schedule


@dataclass(frozen=True, slots=True)
class DueCheckpoint:
    """One post's insights read that is due now (leased to this collector)."""

    post_key: str
    checkpoint_seconds: int
    tenant_id: UUID
    job_id: str
    connection_id: UUID
    platform: str
    platform_post_id: str
    posted_at: datetime
    tries: int


async def take_due_checkpoints(
    pool: asyncpg.Pool, limit: int, lease_seconds: float
) -> list[DueCheckpoint]:
    """Lease due checkpoints (SKIP LOCKED: instances share them; a dead one's lease runs
    out and the row is due again). Each lease counts as a try."""
    rows = await pool.fetch(
        """WITH due AS (
               SELECT post_key, checkpoint_seconds FROM metrics.engagement_schedule
               WHERE state = 'pending' AND next_try_at <= now()
               ORDER BY next_try_at LIMIT $1 FOR UPDATE SKIP LOCKED
           )
           UPDATE metrics.engagement_schedule s
           SET next_try_at = now() + make_interval(secs => $2), tries = s.tries + 1,
               updated_at = now()
           FROM due
           WHERE s.post_key = due.post_key AND s.checkpoint_seconds = due.checkpoint_seconds
           RETURNING s.post_key, s.checkpoint_seconds, s.tenant_id, s.job_id,
                     s.connection_id, s.platform, s.platform_post_id, s.posted_at, s.tries""",
        limit,
        lease_seconds,
    )
    return [DueCheckpoint(**dict(r)) for r in rows]


async def finish_checkpoint(
    pool: asyncpg.Pool, due: DueCheckpoint, state: str, error: str | None = None
) -> None:
    """Close a checkpoint: `done`, `skipped` or `failed` (with why)."""
    await pool.execute(
        """UPDATE metrics.engagement_schedule SET state = $3, last_error = $4, updated_at = now()
           WHERE post_key = $1 AND checkpoint_seconds = $2""",
        due.post_key,
        due.checkpoint_seconds,
        state,
        error[:500] if error else None,
    )


async def retry_checkpoint(
    pool: asyncpg.Pool, due: DueCheckpoint, in_seconds: float, error: str, *, count_try: bool
) -> None:
    """Try again later; a wait for rate limits does not use up a try."""
    await pool.execute(
        """UPDATE metrics.engagement_schedule
           SET next_try_at = now() + make_interval(secs => $3), last_error = $4,
               tries = tries - CASE WHEN $5 THEN 0 ELSE 1 END, updated_at = now()
           WHERE post_key = $1 AND checkpoint_seconds = $2""",
        due.post_key,
        due.checkpoint_seconds,
        in_seconds,
        error[:500],
        count_try,
    )


async def post_was_deleted(pool: asyncpg.Pool, platform_post_id: str) -> bool:
    """Whether jobcast deleted this platform post (no insights to read any more)."""
    return bool(
        await pool.fetchval(
            """SELECT EXISTS (SELECT 1 FROM metrics.job_posts WHERE platform_post_id = $1
                              AND action = 'delete' AND status = 'deleted')""",
            platform_post_id,
        )
    )


async def record_webhook_comments(
    pool: asyncpg.Pool, comments: list[tuple[str, str, str, bool]]
) -> None:
    """(platform, comment_id, platform_post_id, removed): a removal sticks, whatever order
    Meta's deliveries arrive in."""
    if not comments:
        return
    platforms, comment_ids, post_ids, removed = (list(c) for c in zip(*comments, strict=True))
    await pool.execute(
        """INSERT INTO metrics.webhook_comments AS w
               (platform, comment_id, platform_post_id, removed)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::boolean[])
           ON CONFLICT (platform, comment_id) DO UPDATE
           SET removed = w.removed OR EXCLUDED.removed""",
        platforms,
        comment_ids,
        post_ids,
        removed,
    )

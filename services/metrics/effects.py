"""What else must happen, in the same transaction, when a post's state moves.

- `notify`: the SSE fan-out (Postgres NOTIFY, delivered on commit);
- `engagement_scheduler`: the collector's timers for a post that was just posted;
- `webhook_enqueuer`: outbound lifecycle webhooks for tenants that registered one.

Each is idempotent (ON CONFLICT DO NOTHING on a natural key), so the rebuild's tail may
run them again for events the live consumer already handled.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from services.metrics.domain import due_checkpoints
from services.metrics.handlers import ChangeEffect, EngagementEffect
from services.metrics.readmodel import StatusChange
from services.metrics.settings import MetricsSettings
from services.metrics.stream import notify
from services.metrics.webhooks_out import enqueue_engagement, enqueue_lifecycle

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


def live_effects(settings: MetricsSettings) -> list[ChangeEffect]:
    """The effects of a status change, as the service and the rebuild's tail run them."""
    return [notify, engagement_scheduler(settings.engagement_schedule), enqueue_lifecycle]


ENGAGEMENT_EFFECTS: tuple[EngagementEffect, ...] = (enqueue_engagement,)
"""The effects of a post's latest engagement changing."""


def rebuild_tail_effects() -> list[ChangeEffect]:
    """`live_effects` with the metrics service's settings from the environment."""
    return live_effects(MetricsSettings())

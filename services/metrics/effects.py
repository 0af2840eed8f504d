"""What else must happen, in the same transaction, when a post's state moves.

- `notify`: the SSE fan-out (Postgres NOTIFY, delivered on commit);
- `engagement_scheduler`: the collector's timers for a post that was just posted;
- `enqueue_lifecycle`: outbound lifecycle webhooks for tenants that registered one.

Each is idempotent (ON CONFLICT DO NOTHING on a natural key), so the rebuild's tail may
run them again for events the live consumer already handled.
"""

from __future__ import annotations

from services.metrics.engagement.repo import engagement_scheduler
from services.metrics.readmodel.handlers import ChangeEffect, EngagementEffect
from services.metrics.readmodel.stream import notify
from services.metrics.settings import MetricsSettings
from services.metrics.webhooks.delivery import enqueue_engagement, enqueue_lifecycle


def live_effects(settings: MetricsSettings) -> list[ChangeEffect]:
    """The effects of a status change, as the service and the rebuild's tail run them."""
    return [notify, engagement_scheduler(settings.engagement_schedule), enqueue_lifecycle]


ENGAGEMENT_EFFECTS: tuple[EngagementEffect, ...] = (enqueue_engagement,)
"""The effects of a post's latest engagement changing."""


def rebuild_tail_effects() -> list[ChangeEffect]:
    """`live_effects` with the metrics service's settings from the environment."""
    return live_effects(MetricsSettings())

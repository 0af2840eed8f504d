"""The subscriber of `connections.events`: tokens expiring or expired become outbound
webhooks (`connection.expiring`, `connection.expired`); other connection events are the
distributor's business."""

from __future__ import annotations

import asyncpg

from jobcast.kafka import RecordMeta
from schemas.connections import ConnectionEvent, ConnectionExpired, ConnectionExpiring
from services.metrics.webhooks.delivery import enqueue_connection_webhooks


class ConnectionWebhooks:
    """`connection.expiring` / `connection.expired` → the tenant's webhook outbox."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def __call__(self, batch: list[tuple[ConnectionEvent, RecordMeta]]) -> None:
        wanted = [
            event for event, _ in batch if isinstance(event, ConnectionExpiring | ConnectionExpired)
        ]
        if wanted:
            await enqueue_connection_webhooks(self._pool, wanted)

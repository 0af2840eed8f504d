"""The metrics subscribers: results, engagement snapshots and webhook comments in; read-model
rows (and their effects) out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from jobcast.kafka import RecordMeta
from schemas.engagement import EngagementCollected
from schemas.publish import PublishCompleted
from schemas.webhooks import PlatformWebhookReceived
from services.metrics.domain import webhook_comment
from services.metrics.readmodel import StatusChange, apply_engagement, apply_results
from services.metrics.repo import record_webhook_comments
from services.metrics.stream import notify

if TYPE_CHECKING:
    from jobcast.db import Connection

ChangeEffect = Callable[["Connection", Sequence[StatusChange]], Awaitable[None]]
"""Work that must commit together with the changes it follows from (NOTIFY, outboxes)."""


class ResultMaterialiser:
    """Applies each poll's results in one transaction (with its effects) and commits."""

    def __init__(self, pool: asyncpg.Pool, effects: Sequence[ChangeEffect] = (notify,)) -> None:
        self._pool = pool
        self._effects = tuple(effects)

    async def __call__(self, batch: list[tuple[PublishCompleted, RecordMeta]]) -> None:
        await self.apply([event for event, _ in batch])

    async def apply(self, events: Sequence[PublishCompleted]) -> list[StatusChange]:
        """Materialise `events`; duplicates and stale results are no-ops by construction."""
        async with self._pool.acquire() as conn, conn.transaction():
            changes = await apply_results(conn, events)
            for effect in self._effects:
                await effect(conn, changes)
        return changes


EngagementEffect = Callable[["Connection", Sequence[dict[str, Any]]], Awaitable[None]]
"""Work that commits with a batch of snapshots (given the posts whose latest moved)."""


class EngagementMaterialiser:
    """`engagement.events` → snapshots (history) and the latest view, once per event."""

    def __init__(self, pool: asyncpg.Pool, effects: Sequence[EngagementEffect] = ()) -> None:
        self._pool = pool
        self._effects = tuple(effects)

    async def __call__(self, batch: list[tuple[EngagementCollected, RecordMeta]]) -> None:
        await self.apply([event for event, _ in batch])

    async def apply(self, events: Sequence[EngagementCollected]) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn, conn.transaction():
            moved = await apply_engagement(conn, events)
            for effect in self._effects:
                await effect(conn, moved)
        return moved


class WebhookComments:
    """`platform.webhooks` → comments counted per platform post (by the platform's ids)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def __call__(self, batch: list[tuple[PlatformWebhookReceived, RecordMeta]]) -> None:
        comments: dict[tuple[str, str], tuple[str, str, str, bool]] = {}
        for event, _ in batch:
            change = event.payload
            found = webhook_comment(change.object, change.field, change.value)
            if found is None:
                continue
            key = (found[0], found[1])
            earlier = comments.get(key)
            # One row per comment per batch; a removal wins over an add.
            comments[key] = found if earlier is None else (*found[:3], found[3] or earlier[3])
        await record_webhook_comments(self._pool, list(comments.values()))

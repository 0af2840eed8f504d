"""The read model's subscribers: results and engagement snapshots in; read-model rows (and
their effects) out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from jobcast.kafka import RecordMeta
from schemas.engagement import EngagementCollected
from schemas.publish import PublishCompleted
from services.metrics.readmodel.materialise import apply_engagement, apply_results
from services.metrics.readmodel.models import StatusChange
from services.metrics.readmodel.stream import notify

if TYPE_CHECKING:
    from jobcast.db import Connection


ChangeEffect = Callable[["Connection", Sequence[StatusChange]], Awaitable[None]]
"""Work that must commit together with the changes it follows from (NOTIFY, outboxes)."""

EngagementEffect = Callable[["Connection", Sequence[dict[str, Any]]], Awaitable[None]]
"""Work that commits with a batch of snapshots (given the posts whose latest moved)."""


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

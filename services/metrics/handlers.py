"""The metrics subscriber: publish results in, read-model rows out."""

from __future__ import annotations

import asyncpg

from jobcast.kafka import RecordMeta
from schemas.publish import PublishCompleted
from services.metrics.repo import apply_result


class ResultMaterialiser:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def __call__(self, event: PublishCompleted, meta: RecordMeta) -> None:
        """Apply one result; duplicates and stale results are no-ops by construction."""
        await apply_result(self._pool, event)

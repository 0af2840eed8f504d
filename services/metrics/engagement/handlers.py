"""The subscriber of `platform.webhooks`: comments Meta reports, counted per platform post."""

from __future__ import annotations

import asyncpg

from jobcast.kafka import RecordMeta
from schemas.webhooks import PlatformWebhookReceived
from services.metrics.engagement.domain import webhook_comment
from services.metrics.engagement.repo import record_webhook_comments


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

"""Stand-ins for the publishing worker's collaborators in unit tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from jobcast.kafka import OutgoingEvent
from services.publishing.platform import PlatformApi, classify_graph
from services.publishing.posting import Posted


async def read_through(posted: Posted) -> Posted:
    """`posted` with its permalink read, as the worker reads it once the lane is free."""
    if posted.read_permalink is None:
        return posted
    return Posted(posted.platform_post_id, await posted.read_permalink())


def no_platform_api() -> PlatformApi[Any]:
    """For a poster that never calls its platform: no client for any login."""

    async def close() -> None:
        return None

    return PlatformApi(lambda login: None, classify_graph, close)


class ResultsTo:
    """The worker's result batches (`EventBatches`): each event handed to `publish` as
    `publish_event(broker, topic, event, **fields)` would have been called."""

    def __init__(self, publish: Callable[..., Awaitable[None]]) -> None:
        self._publish = publish

    async def send(self, event: OutgoingEvent) -> None:
        await self._publish(
            None, event.topic, event.event, key=event.key,
            correlation_id=event.correlation_id, event_type=event.event_type,
        )  # fmt: skip

"""Stand-ins for the publishing worker's collaborators in unit tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import SecretStr

from jobcast.crypto import TokenCipher, generate_key
from jobcast.graph.pacing import RetryPolicy, Throttle
from jobcast.kafka import OutgoingEvent
from schemas import Platform
from services.publishing.platform import PlatformApi, classify_graph
from services.publishing.posting import Posted
from services.publishing.worker import PublishWorker


async def read_through(posted: Posted) -> Posted:
    """`posted` with its permalink read, as the worker reads it once the lane is free."""
    if posted.read_permalink is None:
        return posted
    return Posted(posted.platform_post_id, await posted.read_permalink())


def facebook_worker(poster: Any, publish: Callable[..., Awaitable[None]], **options: Any) -> Any:
    """A Facebook `PublishWorker` around `poster` with no database or broker: its results
    go to `publish` (as `publish_event` would get them); repo calls are the test's to fake."""
    return PublishWorker(
        platform=Platform.FACEBOOK, pool=None, broker=None, api=no_platform_api(),  # type: ignore[arg-type]
        results=ResultsTo(publish),  # type: ignore[arg-type]
        cipher=TokenCipher(SecretStr(generate_key())), poster=poster,
        throttle=Throttle(), retry_policy=RetryPolicy((30.0,), 3), **options,
    )  # fmt: skip


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

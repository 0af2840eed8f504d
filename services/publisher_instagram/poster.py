"""Instagram posts: container → wait for FINISHED → media_publish → permalink."""

from __future__ import annotations

import asyncio

from schemas.publish import MediaKind, PublishCommand
from services.publishing.graph import AmbiguousOutcomeError, GraphClient, GraphError, read_permalink
from services.publishing.worker import Posted


class ContainerNotReadyError(GraphError):
    """The container did not reach FINISHED in time (or failed processing)."""


class InstagramPoster:
    """Publishes a single-image post through Meta's two-step container flow."""

    def __init__(self, poll_seconds: float = 1.0, max_wait_seconds: float = 300.0) -> None:
        self._poll_seconds = poll_seconds
        self._max_wait_seconds = max_wait_seconds

    async def publish(self, graph: GraphClient, command: PublishCommand, token: str) -> Posted:
        """Create the container, wait until it is ready, publish it, read the permalink."""
        images = [m for m in command.content.media if m.kind is MediaKind.IMAGE]
        if not images:
            raise GraphError("Instagram needs an image", code=100, subcode=None, http_status=400)
        ig_user = command.account_id
        container = await graph.call(
            "POST",
            f"{ig_user}/media",
            token,
            data={"image_url": str(images[0].url), "caption": command.content.text},
        )
        container_id = str(container["id"])
        await self._wait_until_finished(graph, container_id, token)
        published = await graph.call(
            "POST", f"{ig_user}/media_publish", token, data={"creation_id": container_id}
        )
        media_id = str(published["id"])
        return Posted(media_id, await read_permalink(graph, media_id, token, "permalink"))

    async def _wait_until_finished(self, graph: GraphClient, container_id: str, token: str) -> None:
        # Images are usually FINISHED at once; video can take minutes. Poll, spaced, bounded.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait_seconds
        while True:
            status = await graph.call(
                "GET", container_id, token, params={"fields": "status_code,status"}
            )
            code = status.get("status_code")
            if code in ("FINISHED", "PUBLISHED"):
                return
            if code in ("ERROR", "EXPIRED"):
                raise ContainerNotReadyError(
                    f"container {code}: {status.get('status', '')}",
                    code=None,
                    subcode=None,
                    http_status=200,
                )
            if loop.time() >= deadline:
                raise AmbiguousOutcomeError("container still IN_PROGRESS at the deadline")
            await asyncio.sleep(self._poll_seconds)

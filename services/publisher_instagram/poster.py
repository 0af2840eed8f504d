"""Instagram posts: container(s) → FINISHED → quota → media_publish → permalink.

Image posts, carousels (2-10 items) and reels. Waiting on media processing never
holds a worker: after a short inline wait the attempt is handed back with
NotReadyError and resumed from the checkpointed container id later.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from typing import Any

from jobcast.graph.client import (
    GraphClient,
    GraphError,
    permalink_of,
    read_permalink,
)
from jobcast.graph.errors import classify_graph_error
from jobcast.platform_api import AmbiguousOutcomeError
from schemas.media import MediaKind, PostFormat
from schemas.platforms import Platform
from schemas.publish import ErrorClass, MediaItem
from schemas.publish import post_format as post_format_of
from services.publishing.comments import find_comment, make_comment
from services.publishing.posting import (
    Absent,
    Attempt,
    NotReadyError,
    Posted,
    Reconciliation,
    Undecided,
)

_RECENT_MEDIA = 50
_QUOTA_RECHECK_SECONDS = 60.0
_QUOTA_MARGIN = 5
_NOT_READY_SUBCODE = 2207027  # media_publish before the container is FINISHED
_UPLOAD_ERROR_SUBCODE = 2207053  # Meta's "unknown upload error": a new container may do
# The code in a container's `status` ("... failed with error code 2207026").
_ERROR_CODE = re.compile(r"\b(2207\d{3})\b|error code:?\s*(\d+)", re.IGNORECASE)
# Meta's read-after-write: the new media's permalink on the publish answer, one round
# trip fewer per post. Where it is not offered the answer is the bare id, and the
# permalink is read as before.
_WITH_PERMALINK = {"fields": "id,permalink"}


@dataclass(frozen=True, slots=True)
class ContainerTiming:
    """How long to wait for Meta to process media (Meta: poll once a minute, ≤ 5 min)."""

    inline_wait_seconds: float = 3.0
    poll_interval_seconds: float = 1.0
    resume_after_seconds: float = 30.0
    give_up_after_seconds: float = 300.0
    quota_retry_seconds: float = 900.0


class ContainerFailedError(GraphError):
    """Meta could not process the media (container ERROR or EXPIRED): a new one is needed."""


class InstagramPoster:
    """Publishes to an Instagram professional account (Facebook Login flavour)."""

    def __init__(self, timing: ContainerTiming | None = None) -> None:
        self._timing = timing or ContainerTiming()
        # Per account: (quota left by our count, when to ask Meta again).
        self._quota: dict[str, tuple[int, float]] = {}

    async def publish(self, attempt: Attempt[GraphClient]) -> Posted:
        """Create (or resume) the container, check quota, publish once it is FINISHED.

        A carousel's children are created and checkpointed first, and each must be
        FINISHED before the carousel container is made (Meta refuses one otherwise).
        """
        graph, token = attempt.api, attempt.token
        post_format = post_format_of(Platform.INSTAGRAM, attempt.command.content)
        fresh = False
        if "container_id" not in attempt.progress:
            # Over quota a container would only expire unpublished: look before making one.
            await self._check_quota(attempt)
            children: list[str] = []
            if post_format is PostFormat.CAROUSEL:
                children = await self._finished_children(attempt)
            attempt.progress["container_id"] = await self._create_container(attempt, children)
            attempt.progress["container_created"] = time.time()
            await attempt.checkpoint()
            fresh = post_format is not PostFormat.REEL
        container_id = str(attempt.progress["container_id"])
        if fresh:
            # Images (and a carousel of FINISHED children) are almost always FINISHED at
            # once, and publishing one too early is refused without effect
            # (9007/2207027): try first, wait only when told to. One round trip fewer per
            # post. A container from an earlier attempt could be PUBLISHED already, so it
            # is always looked at first.
            try:
                published = await self._publish_container(attempt, container_id)
            except GraphError as exc:
                if exc.subcode != _NOT_READY_SUBCODE:
                    raise
                published = await self._publish_when_finished(attempt, container_id)
        else:
            published = await self._publish_when_finished(attempt, container_id)
        media_id = str(published["id"])
        return Posted(media_id, await permalink_of(graph, published, media_id, token, "permalink"))

    async def _publish_when_finished(
        self, attempt: Attempt[GraphClient], container_id: str
    ) -> dict[str, Any]:
        await self._wait_until_finished(attempt, [container_id], "container_created")
        return await self._publish_container(attempt, container_id)

    async def _finished_children(self, attempt: Attempt[GraphClient]) -> list[str]:
        """The carousel's item containers, created once (checkpointed), all FINISHED."""
        children = attempt.progress.get("children")
        if not isinstance(children, list):
            graph, token = attempt.api, attempt.token
            children = []
            for item in attempt.command.content.media:
                child = await graph.call(
                    "POST", f"{attempt.command.account_id}/media", token,
                    data={**_media_fields(item, carousel=True), "is_carousel_item": "true"},
                )  # fmt: skip
                children.append(str(child["id"]))
            attempt.progress["children"] = children
            attempt.progress["children_created"] = time.time()
            await attempt.checkpoint()
        await self._wait_until_finished(attempt, children, "children_created")
        return [str(child) for child in children]

    async def _publish_container(
        self, attempt: Attempt[GraphClient], container_id: str
    ) -> dict[str, Any]:
        await self._check_quota(attempt)
        ig_user = attempt.command.account_id
        published = await attempt.api.call(
            "POST", f"{ig_user}/media_publish", attempt.token,
            data={"creation_id": container_id}, params=_WITH_PERMALINK,
        )  # fmt: skip
        left, recheck_at = self._quota.get(ig_user, (0, 0.0))
        self._quota[ig_user] = (left - 1, recheck_at)
        return published

    async def reconcile(self, attempt: Attempt[GraphClient]) -> Reconciliation:
        """The container tells: PUBLISHED means live; anything else means not posted."""
        container_id = attempt.progress.get("container_id")
        if container_id is None:
            return Absent()  # no container, nothing that could have been published
        try:
            status = await attempt.api.call(
                "GET", str(container_id), attempt.token, params={"fields": "status_code"}
            )
        except (GraphError, AmbiguousOutcomeError) as exc:
            return Undecided(f"could not read the container: {exc}")
        code = status.get("status_code")
        if code in ("ERROR", "EXPIRED"):
            attempt.progress.clear()
            return Absent()
        if code != "PUBLISHED":
            return Absent()  # IN_PROGRESS / FINISHED: publish() resumes with it
        return await self._find_media(attempt)

    async def edit(self, attempt: Attempt[GraphClient], post_id: str) -> bool:
        """The Graph API cannot change a published caption."""
        return False

    async def comment(self, attempt: Attempt[GraphClient], post_id: str, text: str) -> str:
        """The first comment on a live media."""
        return await make_comment(attempt, post_id, text)

    async def find_comment(
        self, attempt: Attempt[GraphClient], post_id: str, text: str
    ) -> Reconciliation:
        """Our comment among the media's comments (a comment's text is its `text`)."""
        return await find_comment(attempt, post_id, text, text_field="text")

    async def delete(self, attempt: Attempt[GraphClient], post_id: str) -> bool:
        """Delete works for Facebook-Login accounts with `instagram_manage_contents`;
        without that permission Meta refuses, and the post cannot be deleted by us."""
        try:
            await attempt.api.call("DELETE", post_id, attempt.token)
        except GraphError as exc:
            if classify_graph_error(exc.code, exc.subcode).error_class is ErrorClass.AUTH:
                return False
            raise
        return True

    async def _create_container(self, attempt: Attempt[GraphClient], children: list[str]) -> str:
        content = attempt.command.content
        if children:
            data = {"media_type": "CAROUSEL", "children": ",".join(children)}
        elif content.media:
            data = _media_fields(content.media[0], carousel=False)
        else:
            raise GraphError("Instagram needs an image or a video", code=100, subcode=None,
                             http_status=400)  # fmt: skip
        created = await attempt.api.call(
            "POST", f"{attempt.command.account_id}/media", attempt.token,
            data={**data, "caption": content.text},
        )  # fmt: skip
        return str(created["id"])

    async def _wait_until_finished(
        self, attempt: Attempt[GraphClient], container_ids: list[str], created_key: str
    ) -> None:
        """Poll the containers until each is FINISHED; one in ERROR or EXPIRED fails them
        all with Meta's reason (and the next try starts over with new containers)."""
        timing = self._timing
        loop = asyncio.get_running_loop()
        inline_deadline = loop.time() + timing.inline_wait_seconds
        waiting = list(container_ids)
        while True:
            for container_id in list(waiting):
                status = await attempt.api.call(
                    "GET", container_id, attempt.token, params={"fields": "status_code,status"}
                )
                code = status.get("status_code")
                if code == "FINISHED":
                    waiting.remove(container_id)
                elif code == "PUBLISHED":
                    raise AmbiguousOutcomeError("container already published")
                elif code in ("ERROR", "EXPIRED"):
                    attempt.progress.clear()
                    raise _failed(code, str(status.get("status", "")), container_ids, container_id)
            if not waiting:
                return
            created = float(attempt.progress.get(created_key, time.time()))
            if time.time() - created > timing.give_up_after_seconds:
                attempt.progress.clear()
                raise ContainerFailedError(
                    "media still processing after the wait limit",
                    code=None, subcode=_UPLOAD_ERROR_SUBCODE, http_status=200,
                )  # fmt: skip
            if loop.time() >= inline_deadline:
                raise NotReadyError("media processing", timing.resume_after_seconds)
            await asyncio.sleep(timing.poll_interval_seconds)

    async def _check_quota(self, attempt: Attempt[GraphClient]) -> None:
        # Over quota the post waits for the moving 24-hour window; it does not fail.
        # Meta's count is read at most once a minute per account; between reads we count
        # our own publishes, keeping a margin so other publishers' posts are covered.
        ig_user = attempt.command.account_id
        left, recheck_at = self._quota.get(ig_user, (0, 0.0))
        if left > _QUOTA_MARGIN and time.monotonic() < recheck_at:
            return
        limit = await attempt.api.call(
            "GET", f"{attempt.command.account_id}/content_publishing_limit", attempt.token,
            params={"fields": "quota_usage,config"},
        )  # fmt: skip
        for entry in limit.get("data", []):
            usage = entry.get("quota_usage", 0)
            total = entry.get("config", {}).get("quota_total")
            if isinstance(total, int) and isinstance(usage, int):
                self._quota[ig_user] = (total - usage, time.monotonic() + _QUOTA_RECHECK_SECONDS)
                if usage >= total:
                    raise NotReadyError(
                        f"publishing quota reached ({usage}/{total} in 24 h)",
                        self._timing.quota_retry_seconds,
                    )

    async def _find_media(self, attempt: Attempt[GraphClient]) -> Reconciliation:
        try:
            listing = await attempt.api.call(
                "GET", f"{attempt.command.account_id}/media", attempt.token,
                params={"fields": "id,caption,timestamp", "limit": _RECENT_MEDIA},
            )  # fmt: skip
        except (GraphError, AmbiguousOutcomeError) as exc:
            return Undecided(f"container published but media not listed: {exc}")
        wanted = attempt.command.content.text.strip()
        for media in listing.get("data", []):
            if str(media.get("caption", "")).strip() == wanted:
                media_id = str(media["id"])
                permalink = await read_permalink(attempt.api, media_id, attempt.token, "permalink")
                return Posted(media_id, permalink)
        return Undecided("container published but its media was not found")


def _failed(
    code: str, status: str, container_ids: list[str], container_id: str
) -> ContainerFailedError:
    """Meta's reason for a container in ERROR (its `status` names the error code, e.g.
    2207026 for a video format it cannot read), classified by that code."""
    found = _ERROR_CODE.search(status)
    subcode = int(found.group(1) or found.group(2)) if found else _UPLOAD_ERROR_SUBCODE
    which = (
        f"carousel item {container_ids.index(container_id) + 1} " if len(container_ids) > 1 else ""
    )
    reason = f"{which}container {code}: {status}".strip()
    return ContainerFailedError(reason, code=None, subcode=subcode, http_status=200)


def _media_fields(item: MediaItem, *, carousel: bool) -> dict[str, str]:
    if item.kind is MediaKind.IMAGE:
        fields = {"image_url": str(item.url)}
        if item.alt_text:
            fields["alt_text"] = item.alt_text  # Meta takes alt text on images only
        return fields
    if carousel:
        return {"media_type": "VIDEO", "video_url": str(item.url)}
    return {"media_type": "REELS", "video_url": str(item.url), "share_to_feed": "true"}

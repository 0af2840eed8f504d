"""Instagram posts: container(s) → FINISHED → quota → media_publish → permalink.

Image posts, carousels (2-10 items) and reels. Waiting on media processing never
holds a worker: after a short inline wait the attempt is handed back with
NotReadyError and resumed from the checkpointed container id later.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

from jobcast.graph.client import GraphClient, GraphError, permalink_of
from jobcast.graph.errors import classify_graph_error
from schemas.media import MediaKind, PostFormat
from schemas.platforms import Platform
from schemas.publish import ErrorClass, MediaItem
from schemas.publish import post_format as post_format_of
from services.publishing.comments import find_comment, make_comment
from services.publishing.containers import (
    ContainerFailedError,
    ContainerStatus,
    ContainerTiming,
    PublishingLimits,
    Quota,
    finished_children,
    item_label,
    keep_container,
    made_by_this_try,
    reconcile_published,
    wait_until_finished,
)
from services.publishing.listing import Listing
from services.publishing.posting import Attempt, Posted, Reconciliation

_QUOTA = Quota("content_publishing_limit")
_NOT_READY_SUBCODE = 2207027  # media_publish before the container is FINISHED
_UPLOAD_ERROR_SUBCODE = 2207053  # Meta's "unknown upload error": a new container may do
# The code in a container's `status` ("... failed with error code 2207026").
_ERROR_CODE = re.compile(r"\b(2207\d{3})\b|error code:?\s*(\d+)", re.IGNORECASE)
# Meta's read-after-write: the new media's permalink on the publish answer, one round
# trip fewer per post. Where it is not offered the answer is the bare id, and the
# permalink is read as before.
_WITH_PERMALINK = {"fields": "id,permalink"}


class InstagramPoster:
    """Publishes to an Instagram professional account (Facebook Login flavour)."""

    def __init__(self, timing: ContainerTiming | None = None) -> None:
        self._timing = timing or ContainerTiming()
        # Over quota a container would only expire unpublished: looked at before making one.
        self._limits = PublishingLimits(self._timing.quota_retry_seconds)

    async def prepare(self, attempt: Attempt[GraphClient]) -> None:
        """The container, made and checkpointed before the post's turn: nothing shows on
        the account until it is published."""
        if "container_id" not in attempt.progress:
            await self._make_container(attempt)

    async def publish(self, attempt: Attempt[GraphClient]) -> Posted:
        """Create (or resume) the container, check quota, publish once it is FINISHED."""
        graph, token = attempt.api, attempt.token
        if "container_id" not in attempt.progress:
            await self._make_container(attempt)
        container_id = str(attempt.progress["container_id"])
        post_format = post_format_of(Platform.INSTAGRAM, attempt.command.content)
        if made_by_this_try(attempt) and post_format is not PostFormat.REEL:
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
        return Posted(media_id, *permalink_of(graph, published, media_id, token, "permalink"))

    async def _make_container(self, attempt: Attempt[GraphClient]) -> None:
        """Check quota, then create and checkpoint the container. A carousel's children are
        created and checkpointed first, and each must be FINISHED before the carousel
        container is made (Meta refuses one otherwise)."""
        await self._limits.check(attempt, _QUOTA)
        children: list[str] = []
        if post_format_of(Platform.INSTAGRAM, attempt.command.content) is PostFormat.CAROUSEL:
            children = await finished_children(
                attempt, "media", partial(_media_fields, carousel=True), self._timing, _STATUS
            )
        await keep_container(attempt, await self._create_container(attempt, children))

    async def _publish_when_finished(
        self, attempt: Attempt[GraphClient], container_id: str
    ) -> dict[str, Any]:
        await wait_until_finished(
            attempt, [container_id], "container_created", self._timing, _STATUS
        )
        return await self._publish_container(attempt, container_id)

    async def _publish_container(
        self, attempt: Attempt[GraphClient], container_id: str
    ) -> dict[str, Any]:
        await self._limits.check(attempt, _QUOTA)
        published = await attempt.api.call(
            "POST", f"{attempt.command.account_id}/media_publish", attempt.token,
            data={"creation_id": container_id}, params=_WITH_PERMALINK,
        )  # fmt: skip
        self._limits.spent(attempt, _QUOTA)
        return published

    async def reconcile(self, attempt: Attempt[GraphClient]) -> Reconciliation:
        """The container tells whether it was published; if it was, the media is found
        among the account's media since the claim, by its caption (every page, newest
        first: a busy account may have published many since)."""
        listing = Listing(
            f"{attempt.command.account_id}/media", "caption", "the account's media",
            time_field="timestamp",
        )  # fmt: skip
        return await reconcile_published(attempt, _STATUS, listing)

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


def _failed(
    code: str, answer: dict[str, Any], container_ids: list[str], container_id: str
) -> ContainerFailedError:
    """Meta's reason for a container in ERROR (its `status` names the error code, e.g.
    2207026 for a video format it cannot read), classified by that code."""
    status = str(answer.get("status", ""))
    found = _ERROR_CODE.search(status)
    subcode = int(found.group(1) or found.group(2)) if found else _UPLOAD_ERROR_SUBCODE
    reason = f"{item_label(container_ids, container_id)}container {code}: {status}".strip()
    return ContainerFailedError(reason, code=None, subcode=subcode, http_status=200)


_STATUS = ContainerStatus("status_code,status", "status_code", _failed, _UPLOAD_ERROR_SUBCODE)


def _media_fields(item: MediaItem, *, carousel: bool) -> dict[str, str]:
    if item.kind is MediaKind.IMAGE:
        fields = {"image_url": str(item.url)}
        if item.alt_text:
            fields["alt_text"] = item.alt_text  # Meta takes alt text on images only
        return fields
    if carousel:
        return {"media_type": "VIDEO", "video_url": str(item.url)}
    return {"media_type": "REELS", "video_url": str(item.url), "share_to_feed": "true"}

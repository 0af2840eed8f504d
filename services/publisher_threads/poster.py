"""Threads posts: container(s) → FINISHED → publishing limit → threads_publish → permalink.

Text, image, video and carousel (2-20 items) posts; a first comment is a reply
(`reply_to_id`), published the same way under the reply limit. Threads cannot edit a
post ("cannot"); it can delete one. An ambiguous publish is decided by the container's
state and, when it says PUBLISHED, by finding our text among the profile's threads since
the claim (Threads has no idempotency key).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from jobcast.graph.client import GraphClient, GraphError, read_permalink
from schemas.media import MediaKind
from schemas.publish import MediaItem
from services.publisher_threads.errors import MEDIA_NOT_FOUND
from services.publishing.containers import (
    ContainerFailedError,
    ContainerStatus,
    ContainerTiming,
    PublishingLimits,
    Quota,
    find_published,
    finished_children,
    item_label,
    keep_container,
    made_by_this_try,
    reconcile_published,
    wait_until_finished,
)
from services.publishing.deletes import delete_post
from services.publishing.listing import Found, Listing
from services.publishing.posting import Attempt, Posted, Reconciliation

# Meta's answer to publishing a container that is not FINISHED (or unknown, or published
# already): 24/4279009 "Media Not Found". Nothing is published; the container tells why.
NOT_FOUND_SUBCODE = MEDIA_NOT_FOUND
_POSTS = Quota("threads_publishing_limit", what="Threads publishing limit")
_REPLIES = Quota(
    "threads_publishing_limit", "reply_quota_usage", "reply_config", what="Threads reply limit"
)


# A container's `error_message` that a new container may cure (the others name a file
# Threads cannot use: that post fails for good).
_RETRYABLE_ERRORS = frozenset({"", "UNKNOWN", "FAILED_DOWNLOADING_VIDEO"})


def _failed(
    state: str, answer: dict[str, Any], container_ids: list[str], container_id: str
) -> ContainerFailedError:
    """Meta's reason for a container in ERROR (`error_message`, e.g. INVALID_DURATION) or
    EXPIRED. Expired, unknown or not downloaded: transient (a new container may do);
    a file Threads cannot use: permanent."""
    reason = str(answer.get("error_message") or "")
    text = f"{item_label(container_ids, container_id)}container {state}: {reason}".strip(": ")
    retryable = state == "EXPIRED" or reason in _RETRYABLE_ERRORS
    subcode = NOT_FOUND_SUBCODE if retryable else None
    return ContainerFailedError(text, code=None, subcode=subcode, http_status=200)


_STATUS = ContainerStatus("status,error_message", "status", _failed, NOT_FOUND_SUBCODE)


class ThreadsPoster:
    """Publishes to a Threads profile with its Threads user token (graph.threads.net)."""

    def __init__(self, timing: ContainerTiming | None = None) -> None:
        self._timing = timing or ContainerTiming()
        # Over the limit a container would only expire unpublished: looked at before one.
        self._limits = PublishingLimits(self._timing.quota_retry_seconds)

    async def prepare(self, attempt: Attempt[GraphClient]) -> None:
        """The thread's container, made and checkpointed before the post's turn: nothing
        shows on the profile until it is published."""
        if "container_id" not in attempt.progress:
            await self._make_container(attempt, _post_fields(attempt), _POSTS)

    async def publish(self, attempt: Attempt[GraphClient]) -> Posted:
        """Create (or resume) the container, check the limit, publish once it is FINISHED."""
        media_id = await self._publish_thread(attempt, _post_fields(attempt), _POSTS)
        read = partial(read_permalink, attempt.api, media_id, attempt.token, "permalink")
        return Posted(media_id, None, read)

    async def comment(self, attempt: Attempt[GraphClient], post_id: str, text: str) -> str:
        """The first comment: a reply to the live thread."""
        return await self._publish_thread(
            attempt, {"media_type": "TEXT", "text": text, "reply_to_id": post_id}, _REPLIES
        )

    async def _publish_thread(
        self, attempt: Attempt[GraphClient], fields: dict[str, str], quota: Quota
    ) -> str:
        progress = attempt.progress
        if "container_id" not in progress:
            await self._make_container(attempt, fields, quota)
        container_id = str(progress["container_id"])
        if made_by_this_try(attempt) and not any(
            m.kind is MediaKind.VIDEO for m in attempt.command.content.media
        ):
            # Text and images are FINISHED at once, and publishing one too early is refused
            # without effect: try first, wait only when told to. A container from an
            # earlier attempt could be PUBLISHED already, so it is always looked at first.
            try:
                return await self._publish_container(attempt, container_id, quota)
            except GraphError as exc:
                if exc.subcode != NOT_FOUND_SUBCODE:
                    raise
        await wait_until_finished(
            attempt, [container_id], "container_created", self._timing, _STATUS
        )
        return await self._publish_container(attempt, container_id, quota)

    async def _make_container(
        self, attempt: Attempt[GraphClient], fields: dict[str, str], quota: Quota
    ) -> None:
        await self._limits.check(attempt, quota)
        await keep_container(attempt, await self._create_container(attempt, fields))

    async def _create_container(self, attempt: Attempt[GraphClient], fields: dict[str, str]) -> str:
        media = attempt.command.content.media
        if "reply_to_id" in fields:
            data = fields
        elif len(media) > 1:
            children = await finished_children(
                attempt, "threads", _media_fields, self._timing, _STATUS
            )
            data = {**fields, "media_type": "CAROUSEL", "children": ",".join(children)}
        elif media:
            data = {**fields, **_media_fields(media[0])}
        else:
            data = {**fields, "media_type": "TEXT"}
        created = await attempt.api.call(
            "POST", f"{attempt.command.account_id}/threads", attempt.token, data=data
        )
        return str(created["id"])

    async def _publish_container(
        self, attempt: Attempt[GraphClient], container_id: str, quota: Quota
    ) -> str:
        await self._limits.check(attempt, quota)
        published = await attempt.api.call(
            "POST", f"{attempt.command.account_id}/threads_publish", attempt.token,
            data={"creation_id": container_id},
        )  # fmt: skip
        self._limits.spent(attempt, quota)
        return str(published["id"])

    async def reconcile(self, attempt: Attempt[GraphClient]) -> Reconciliation:
        """The container tells whether it was published; if it was, the thread is found
        among the profile's threads since the claim, by its text."""
        listing = Listing(
            f"{attempt.command.account_id}/threads", "text", "the profile's threads",
            time_field="timestamp",
        )  # fmt: skip
        return await reconcile_published(attempt, _STATUS, listing)

    async def find_comment(
        self, attempt: Attempt[GraphClient], post_id: str, text: str
    ) -> Reconciliation:
        """Our reply among the thread's replies, when its container says it was published."""
        listing = Listing(f"{post_id}/replies", "text", "the thread's replies")
        found = await find_published(attempt, _STATUS, listing, text, since=None)
        return Posted(found.entry_id, None) if isinstance(found, Found) else found

    async def edit(self, attempt: Attempt[GraphClient], post_id: str) -> bool:
        """The Threads API cannot change a published thread."""
        return False

    async def delete(self, attempt: Attempt[GraphClient], post_id: str) -> bool:
        """Delete the thread; one already gone counts as deleted (deletes get retried)."""
        return await delete_post(attempt, post_id)


def _post_fields(attempt: Attempt[GraphClient]) -> dict[str, str]:
    content = attempt.command.content
    fields: dict[str, str] = {"text": content.text}
    if not content.media and content.link is not None:
        fields["link_attachment"] = str(content.link)  # text posts only, as Meta says
    return fields


def _media_fields(item: MediaItem) -> dict[str, str]:
    if item.kind is MediaKind.IMAGE:
        fields = {"media_type": "IMAGE", "image_url": str(item.url)}
    else:
        fields = {"media_type": "VIDEO", "video_url": str(item.url)}
    if item.alt_text:
        fields["alt_text"] = item.alt_text  # Threads takes alt text on images and videos
    return fields

"""Publish commands (topics `publish.<platform>`) and their results (`publish.results`)."""

from __future__ import annotations

import functools
import hashlib
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, HttpUrl

from schemas.bounds import MAX_BIGINT, MAX_INT, Text
from schemas.envelope import ContractModel, Envelope, UtcDatetime
from schemas.jobs import FIRST_COMMENT_LIMIT, JobId
from schemas.media import MAX_POST_MEDIA, AltText, MediaKind, PostedMedia, PostFormat
from schemas.platforms import Platform

PostKey = Annotated[str, Field(pattern=r"^pk_[0-9a-f]{32}$")]


class PublishAction(StrEnum):
    PUBLISH = "publish"
    EDIT = "edit"
    DELETE = "delete"


def make_post_key(
    tenant_id: UUID,
    job_id: str,
    connection_id: UUID,
    revision: int,
    action: PublishAction = PublishAction.PUBLISH,
) -> str:
    """The deterministic identity of one platform operation: same inputs, same key, always.

    Publishers deduplicate on it, so replaying `jobs.events` can never post (or edit,
    or delete) twice. The action is part of the key only for edits and deletes, so an
    edit at revision 2 never collides with a first publish at revision 2.
    """
    suffix = "" if action is PublishAction.PUBLISH else f"|{action.value}"
    material = f"v1|{tenant_id}|{job_id}|{connection_id}|{revision}{suffix}".encode()
    return "pk_" + hashlib.sha256(material).hexdigest()[:32]


class MediaItem(ContractModel):
    kind: MediaKind
    url: HttpUrl
    alt_text: AltText | None = None


class PostContent(ContractModel):
    """The formatted post, ready for the platform: no further decisions downstream."""

    text: Annotated[Text, Field(max_length=63_206)]
    link: HttpUrl | None = None
    title: Annotated[Text | None, Field(min_length=1, max_length=200)] = Field(
        default=None, description="LinkedIn article posts: the article's title (the job's)."
    )
    media: Annotated[list[MediaItem], Field(max_length=MAX_POST_MEDIA)] = []
    format: PostFormat | None = Field(
        default=None, description="What to make of the media; absent: read from the media."
    )

    first_comment: Annotated[
        Text | None, Field(min_length=1, max_length=max(FIRST_COMMENT_LIMIT.values()))
    ] = Field(default=None, description="Commented on the post once it is live.")


def post_format(platform: Platform, content: PostContent) -> PostFormat:  # noqa: PLR0911
    """What `content` makes on `platform`: the distributor's format, or, for a command
    written before formats existed, what the media made then."""
    if content.format is not None:
        return content.format
    kinds = [item.kind for item in content.media]
    if not kinds:
        return PostFormat.LINK
    if platform is Platform.LINKEDIN:  # an image post of the first image, else an article
        return PostFormat.IMAGE if kinds[0] is MediaKind.IMAGE else PostFormat.LINK
    if platform is Platform.THREADS and len(kinds) == 1:
        return PostFormat.VIDEO if kinds[0] is MediaKind.VIDEO else PostFormat.IMAGE
    if MediaKind.VIDEO in kinds and (platform is Platform.FACEBOOK or len(kinds) == 1):
        return PostFormat.VIDEO if platform is Platform.FACEBOOK else PostFormat.REEL
    if len(kinds) == 1:
        return PostFormat.IMAGE
    carousels = (Platform.INSTAGRAM, Platform.THREADS)  # Threads mixes both kinds too
    return PostFormat.CAROUSEL if platform in carousels else PostFormat.IMAGES


def posted_media(platform: Platform, content: PostContent) -> PostedMedia:
    """What a post of `content` on `platform` is made of (results carry it)."""
    post = post_format(platform, content)
    if post is PostFormat.LINK:
        items: list[MediaItem] = []
    elif post in (PostFormat.VIDEO, PostFormat.REEL) or platform is Platform.LINKEDIN:
        items = content.media[:1]
    else:
        items = content.media
    videos = sum(1 for item in items if item.kind is MediaKind.VIDEO)
    return _posted_media(post, len(items) - videos, videos)


# A few shapes recur (frozen models, so one instance serves every result of its shape):
# a validated model per published post cost more than the rest of this function.
@functools.lru_cache(maxsize=256)
def _posted_media(post: PostFormat, images: int, videos: int) -> PostedMedia:
    return PostedMedia(format=post, images=images, videos=videos)


class PublishCommand(ContractModel):
    """One post to make (or change) on one connected account. Never carries a token."""

    post_key: PostKey
    action: PublishAction = PublishAction.PUBLISH
    platform: Platform
    connection_id: UUID
    account_id: Annotated[
        Text, Field(min_length=1, max_length=64, description="Page or IG user id")
    ]
    job_id: JobId
    revision: Annotated[int, Field(ge=1, le=MAX_BIGINT)]
    content: PostContent
    original_post_key: PostKey | None = Field(
        default=None, description="For edit and delete: the key of the publish it changes."
    )


class PublishStatus(StrEnum):
    # Set by the distributor before a command reaches a publisher:
    SCHEDULED = "scheduled"  # waits for its publish_at
    AWAITING_APPROVAL = "awaiting_approval"  # waits for an operator's approve/reject
    HELD = "held"  # due, but the tenant or platform is paused
    CANCELLED = "cancelled"  # withdrawn before it was sent (operator, job closed, rejected)
    # Set by the publishers:
    RETRY_SCHEDULED = "retry_scheduled"  # not done yet: waits for `next_attempt_at`
    POSTED = "posted"
    FAILED = "failed"  # final: permanent error, auth, or attempts exhausted
    UNCONFIRMED = "unconfirmed"  # the call may have posted; being confirmed, never re-posted
    SKIPPED = "skipped"
    EDITED = "edited"
    DELETED = "deleted"
    CANNOT_DELETE = "cannot_delete"  # the platform offers no delete for this post


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    PERMANENT = "permanent"
    ALREADY_POSTED = "already_posted"
    NOT_PUBLISHABLE = "not_publishable"


class PublishError(ContractModel):
    """Why a post did not go out; `message` is safe to show (never holds a token)."""

    error_class: ErrorClass
    code: Annotated[int | None, Field(ge=-MAX_INT - 1, le=MAX_INT)] = None
    subcode: Annotated[int | None, Field(ge=-MAX_INT - 1, le=MAX_INT)] = None
    message: Annotated[Text, Field(max_length=2_000)] = ""


class FirstCommentStatus(StrEnum):
    PENDING = "pending"  # the post is live; the comment is claimed and due
    RETRY_SCHEDULED = "retry_scheduled"
    UNCONFIRMED = "unconfirmed"  # the call may have commented; being confirmed, never repeated
    POSTED = "posted"
    FAILED = "failed"  # final; the post stays posted


class FirstComment(ContractModel):
    """Where a post's first comment stands (it never changes the post's own status)."""

    status: FirstCommentStatus
    comment_id: Annotated[Text | None, Field(max_length=128)] = None
    attempts: Annotated[int, Field(ge=0, le=MAX_INT)] = 0
    error: PublishError | None = None
    next_attempt_at: UtcDatetime | None = None


class PublishResult(ContractModel):
    """What happened to one post key at one attempt."""

    post_key: PostKey
    action: PublishAction = PublishAction.PUBLISH
    platform: Platform
    connection_id: UUID
    job_id: JobId
    status: PublishStatus
    attempt: Annotated[int, Field(ge=0, le=MAX_INT)] = 1
    platform_post_id: Annotated[Text | None, Field(max_length=128)] = None
    permalink: HttpUrl | None = None
    error: PublishError | None = None
    next_attempt_at: UtcDatetime | None = None
    completed_at: UtcDatetime
    # Audit details a publisher adds (absent on the distributor's status events):
    requested_at: UtcDatetime | None = Field(
        default=None, description="When the publish command was issued (time to publish)."
    )
    http_status: Annotated[int | None, Field(ge=100, le=599)] = Field(
        default=None, description="HTTP status of the Graph call that decided this attempt."
    )
    latency_ms: Annotated[int | None, Field(ge=0, le=MAX_INT)] = Field(
        default=None, description="How long the attempt took, platform calls included."
    )
    media: PostedMedia | None = Field(default=None, description="What a post was made of.")
    first_comment: FirstComment | None = Field(
        default=None,
        description="The post's first comment. A result about the comment alone has attempt 0"
        " (it is no attempt of the post).",
    )


class PublishRequested(Envelope):
    event_type: Literal["publish.requested"] = "publish.requested"
    payload: PublishCommand


class PublishCompleted(Envelope):
    event_type: Literal["publish.completed"] = "publish.completed"
    payload: PublishResult

"""A post's first comment: made once the post is live, exactly once, never at the post's
expense.

The comment is a claim of its own in `publishing.post_claims` (kind `first_comment`, a key
derived from the post's), inserted in the same transaction as the post's `posted` outcome
and due at once. The worker then runs it like a post: lease, pacing, durable retries for
transient errors, reconciliation (listing the post's comments and matching our text) when
the answer is ambiguous, `unconfirmed` when that cannot tell. Its outcomes are results
about the post (`PublishResult.first_comment`, attempt 0): the post stays `posted` whatever
happens to the comment.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Generic

from pydantic import HttpUrl

from jobcast.graph.client import GraphClient
from schemas.publish import (
    FirstComment,
    FirstCommentStatus,
    PostContent,
    PublishAction,
    PublishResult,
    PublishStatus,
)
from services.publishing import repo
from services.publishing.decisions import Decision
from services.publishing.listing import Found, Listing, find_text
from services.publishing.posting import ApiT, Attempt, Posted, Poster, Reconciliation

_STATUS = {
    PublishStatus.POSTED: FirstCommentStatus.POSTED,
    PublishStatus.FAILED: FirstCommentStatus.FAILED,
    PublishStatus.UNCONFIRMED: FirstCommentStatus.UNCONFIRMED,
    PublishStatus.RETRY_SCHEDULED: FirstCommentStatus.RETRY_SCHEDULED,
}


def comment_key(post_key: str) -> str:
    """The claim key of a post's first comment: derived, so a post has at most one."""
    return "pk_" + hashlib.sha256(f"first_comment|{post_key}".encode()).hexdigest()[:32]


def follow_up(claim: repo.Claim, decision: Decision) -> repo.NewClaim | None:
    """The first comment's claim a post's outcome brings, if it brings one."""
    command = claim.event.payload
    text = command.content.first_comment
    if (
        claim.kind is not repo.Kind.POST
        or command.action is not PublishAction.PUBLISH
        or decision.status is not PublishStatus.POSTED
        or not text
        or decision.platform_post_id is None
    ):
        return None
    # The comment's own command: its key, its text, and the post it belongs to.
    comment = command.model_copy(
        update={
            "post_key": comment_key(command.post_key),
            "content": PostContent(text=text),
            "original_post_key": command.post_key,
        }
    )
    progress: dict[str, Any] = {
        "post_id": decision.platform_post_id,
        "permalink": str(decision.permalink) if decision.permalink else None,
    }
    return repo.NewClaim(
        claim.event.model_copy(update={"payload": comment}),
        claim.correlation_id,
        repo.Kind.FIRST_COMMENT,
        progress,
    )


def pending() -> FirstComment:
    """What a post's `posted` result says of a comment that is still to be made."""
    return FirstComment(status=FirstCommentStatus.PENDING)


def result_of(
    claim: repo.Claim, decision: Decision, now: datetime, next_at: datetime | None
) -> PublishResult:
    """A first comment's outcome as a result about its post (attempt 0: no post attempt)."""
    command = claim.event.payload
    permalink = claim.progress.get("permalink")
    return PublishResult(
        post_key=command.original_post_key or command.post_key,
        platform=command.platform,
        connection_id=command.connection_id,
        job_id=command.job_id,
        status=PublishStatus.POSTED,
        attempt=0,
        platform_post_id=str(claim.progress["post_id"]),
        permalink=HttpUrl(permalink) if permalink else None,
        completed_at=now,
        requested_at=claim.event.occurred_at,
        first_comment=FirstComment(
            status=_STATUS.get(decision.status, FirstCommentStatus.FAILED),
            comment_id=decision.platform_post_id,
            attempts=claim.attempt,
            error=decision.error,
            next_attempt_at=next_at,
        ),
    )


class CommentPoster(Generic[ApiT]):
    """A platform poster's comment calls in the shape the worker runs: `publish` makes the
    comment, `reconcile` looks for it among the post's comments."""

    def __init__(self, poster: Poster[ApiT]) -> None:
        self._poster = poster

    async def publish(self, attempt: Attempt[ApiT]) -> Posted:
        post_id = str(attempt.progress["post_id"])
        comment_id = await self._poster.comment(attempt, post_id, attempt.command.content.text)
        return Posted(comment_id, None)

    async def reconcile(self, attempt: Attempt[ApiT]) -> Reconciliation:
        post_id = str(attempt.progress["post_id"])
        return await self._poster.find_comment(attempt, post_id, attempt.command.content.text)

    async def edit(self, attempt: Attempt[ApiT], post_id: str) -> bool:
        raise NotImplementedError("a first comment is never edited")

    async def delete(self, attempt: Attempt[ApiT], post_id: str) -> bool:
        raise NotImplementedError("a first comment is never deleted on its own")


async def make_comment(attempt: Attempt[GraphClient], object_id: str, text: str) -> str:
    """`POST /{object-id}/comments` with `message` (Facebook posts and Instagram media alike)."""
    created = await attempt.api.call(
        "POST", f"{object_id}/comments", attempt.token, data={"message": text}
    )
    return str(created["id"])


async def find_comment(
    attempt: Attempt[GraphClient], object_id: str, text: str, *, text_field: str
) -> Reconciliation:
    """Our comment among the object's comments (`GET /{object-id}/comments`), matched on its
    text (`text_field`: `text` on Instagram, `message` on Facebook)."""
    listing = Listing(f"{object_id}/comments", text_field, "the post's comments")
    found = await find_text(attempt, listing, text)
    return Posted(found.entry_id, None) if isinstance(found, Found) else found

"""LinkedIn organization posts: an article (the job's link), a text post, or an image post
(image uploaded → AVAILABLE → post), and their edits, deletes and first comments.

Waiting on image processing never holds a worker: after a short inline wait the attempt is
handed back with NotReadyError and resumed from the checkpointed image URN later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import HttpUrl

from jobcast.linkedin.client import LinkedInClient, rest_path
from jobcast.linkedin.errors import LinkedInError
from jobcast.linkedin.little_text import escape
from jobcast.platform_api import AmbiguousOutcomeError, PlatformError
from schemas.media import MediaKind, PostFormat
from schemas.platforms import Platform
from schemas.publish import MediaItem, PostContent
from schemas.publish import post_format as post_format_of
from services.publisher_linkedin.media import MediaSource
from services.publishing.posting import (
    Absent,
    Attempt,
    NotReadyError,
    Posted,
    Reconciliation,
    Undecided,
)

# Posts asked for per page when reconciling (LinkedIn's most), and how many pages at most.
PAGE_SIZE = 100
MAX_PAGES = 20
# Clock skew allowed between our claim time and LinkedIn's createdAt.
_SKEW_MS = 120_000
PERMALINK = "https://www.linkedin.com/feed/update/{urn}/"
TITLE_LIMIT = 200


@dataclass(frozen=True, slots=True)
class ImageTiming:
    """How long to wait for LinkedIn to process an uploaded image."""

    inline_wait_seconds: float = 3.0
    poll_interval_seconds: float = 1.0
    resume_after_seconds: float = 30.0
    give_up_after_seconds: float = 300.0


def organization_urn(account_id: str) -> str:
    """A connection's account id is the organization's numeric id."""
    return f"urn:li:organization:{account_id}"


def permalink(post_urn: str) -> HttpUrl:
    """The post's page on linkedin.com."""
    return HttpUrl(PERMALINK.format(urn=post_urn))


class LinkedInPoster:
    """Publishes to a LinkedIn organization page."""

    def __init__(self, media: MediaSource, timing: ImageTiming | None = None) -> None:
        self._media = media
        self._timing = timing or ImageTiming()

    async def publish(self, attempt: Attempt[LinkedInClient]) -> Posted:
        """Upload the image first when there is one (resuming from the checkpointed URN),
        then create the post."""
        content = attempt.command.content
        image = _image_of(content)
        body = _post_body(attempt.command.account_id, content)
        if image is not None:
            urn = await self._available_image(attempt, image)
            media: dict[str, Any] = {"id": urn}
            if image.alt_text:
                media["altText"] = image.alt_text
            body["content"] = {"media": media}
        created = await attempt.api.call("POST", rest_path("posts"), attempt.token, json=body)
        if created.restli_id is None:
            # A 2xx without the new post's id: it may well exist; reconciliation tells.
            raise AmbiguousOutcomeError("post created without an x-restli-id")
        return Posted(created.restli_id, permalink(created.restli_id))

    async def reconcile(self, attempt: Attempt[LinkedInClient]) -> Reconciliation:
        """Our post among the organization's posts created since the key was claimed: same
        commentary and content.

        Pages are read newest first until one reaches past the claim: a busy organization
        can have published many posts between the ambiguous call and this check, and
        stopping at the newest few would call a post that exists "absent" and post it
        again."""
        wanted = _post_body(attempt.command.account_id, attempt.command.content)
        since_ms = _epoch_ms(attempt.since) - _SKEW_MS
        found = await _find(
            attempt, rest_path("posts"), "the organization's posts",
            [("q", "author"), ("author", wanted["author"]), ("sortBy", "CREATED")],
            match=lambda post: _is_ours(post, wanted, since_ms),
            past=lambda post: _created_before(post, since_ms),
        )  # fmt: skip
        if not isinstance(found, dict):
            return found
        urn = str(found["id"])
        return Posted(urn, permalink(urn))

    async def edit(self, attempt: Attempt[LinkedInClient], post_id: str) -> bool:
        """Replace the commentary (a partial update)."""
        commentary = escape(attempt.command.content.text)
        await attempt.api.call(
            "POST", rest_path("posts", post_id), attempt.token,
            json={"patch": {"$set": {"commentary": commentary}}},
            restli_method="PARTIAL_UPDATE",
        )  # fmt: skip
        return True

    async def delete(self, attempt: Attempt[LinkedInClient], post_id: str) -> bool:
        """Delete the post; one already gone (an earlier try that took effect) counts."""
        try:
            await attempt.api.call("DELETE", rest_path("posts", post_id), attempt.token)
        except LinkedInError as exc:
            if exc.http_status not in (404, 410):
                raise
        return True

    async def comment(self, attempt: Attempt[LinkedInClient], post_id: str, text: str) -> str:
        """The first comment, made as the organization (socialActions comments)."""
        body = {
            "actor": organization_urn(attempt.command.account_id),
            "object": post_id,
            "message": {"text": text},
        }
        created = await attempt.api.call(
            "POST", rest_path("socialActions", post_id, "comments"), attempt.token, json=body
        )
        found = created.restli_id or (created.body or {}).get("$URN")
        if not found:
            raise AmbiguousOutcomeError("comment created without its id")
        return str(found)

    async def find_comment(
        self, attempt: Attempt[LinkedInClient], post_id: str, text: str
    ) -> Reconciliation:
        """Our comment among the post's comments (made as the organization, same text)."""
        actor = organization_urn(attempt.command.account_id)

        def is_ours(comment: dict[str, Any]) -> bool:
            message = comment.get("message") or {}
            return comment.get("actor") == actor and message.get("text") == text

        found = await _find(
            attempt, rest_path("socialActions", post_id, "comments"), "the post's comments", [],
            match=is_ours,
        )  # fmt: skip
        if not isinstance(found, dict):
            return found
        return Posted(str(found.get("$URN") or found.get("id")), None)

    # ------------------------------------------------------------------------- images

    async def _available_image(self, attempt: Attempt[LinkedInClient], image: MediaItem) -> str:
        """The image's URN once it is AVAILABLE: initialised, uploaded and processed, each
        step checkpointed so a later try resumes where this one stopped."""
        progress = attempt.progress
        initialized_now = "image_urn" not in progress
        if initialized_now:
            initialized = await attempt.api.call(
                "POST", rest_path("images"), attempt.token,
                params=[("action", "initializeUpload")],
                json={"initializeUploadRequest": {
                    "owner": organization_urn(attempt.command.account_id)}},
            )  # fmt: skip
            value = (initialized.body or {}).get("value") or {}
            progress["image_urn"] = str(value["image"])
            progress["upload_url"] = str(value["uploadUrl"])
            await attempt.checkpoint()
        urn = str(progress["image_urn"])
        if "uploaded_at" not in progress:
            # An image from an earlier try may have been uploaded by a holder that died
            # before it could say so: LinkedIn takes an upload once, so look first.
            if initialized_now or await self._status(attempt, urn) in ("WAITING_UPLOAD", None):
                data = await self._media.fetch(str(image.url))
                await attempt.api.upload(str(progress["upload_url"]), attempt.token, data)
            progress["uploaded_at"] = time.time()
            await attempt.checkpoint()
        await self._wait_until_available(attempt, urn)
        return urn

    async def _status(self, attempt: Attempt[LinkedInClient], urn: str) -> str | None:
        answer = await attempt.api.call("GET", rest_path("images", urn), attempt.token)
        status = (answer.body or {}).get("status")
        return str(status) if status is not None else None

    async def _wait_until_available(self, attempt: Attempt[LinkedInClient], urn: str) -> None:
        timing = self._timing
        loop = asyncio.get_running_loop()
        inline_deadline = loop.time() + timing.inline_wait_seconds
        while True:
            status = await self._status(attempt, urn)
            if status == "AVAILABLE":
                return
            if status == "PROCESSING_FAILED":
                _forget_image(attempt)
                raise LinkedInError(
                    f"LinkedIn could not process the image ({urn})", code=None,
                    http_status=422, error_code="PROCESSING_FAILED",
                )  # fmt: skip
            uploaded = float(attempt.progress.get("uploaded_at", time.time()))
            if time.time() - uploaded > timing.give_up_after_seconds:
                _forget_image(attempt)
                raise LinkedInError(
                    f"the image was still {status} after the wait limit", code=None,
                    http_status=422, error_code="PROCESSING_TIMEOUT",
                )  # fmt: skip
            if loop.time() >= inline_deadline:
                raise NotReadyError("image processing", timing.resume_after_seconds)
            await asyncio.sleep(timing.poll_interval_seconds)


async def _find(
    attempt: Attempt[LinkedInClient],
    path: str,
    what: str,
    params: list[tuple[str, str]],
    *,
    match: Callable[[dict[str, Any]], bool],
    past: Callable[[dict[str, Any]], bool] = lambda _: False,
) -> dict[str, Any] | Absent | Undecided:
    """The first element of a paged listing that `match`es, or proof there is none: every
    page was read, or one ended with an element `past` what could match (a listing sorted
    newest first reaching back before the claim)."""
    for page in range(MAX_PAGES):
        window = [("count", str(PAGE_SIZE)), ("start", str(page * PAGE_SIZE))]
        try:
            listing = await attempt.api.call("GET", path, attempt.token, params=[*params, *window])
        except (PlatformError, AmbiguousOutcomeError) as exc:
            return Undecided(f"could not list {what}: {exc}")
        elements: list[dict[str, Any]] = (listing.body or {}).get("elements", [])
        for element in elements:
            if match(element):
                return element
        if len(elements) < PAGE_SIZE or past(elements[-1]):
            return Absent()
    return Undecided(f"more than {MAX_PAGES * PAGE_SIZE} entries in {what}")


def _forget_image(attempt: Attempt[LinkedInClient]) -> None:
    for key in ("image_urn", "upload_url", "uploaded_at"):
        attempt.progress.pop(key, None)


def _image_of(content: PostContent) -> MediaItem | None:
    """The image an image post shows (LinkedIn posts here carry at most one)."""
    post_format = post_format_of(Platform.LINKEDIN, content)
    if post_format is PostFormat.LINK or not content.media:
        return None
    images = [item for item in content.media if item.kind is MediaKind.IMAGE]
    if not images:
        raise LinkedInError(
            "LinkedIn video posts are not supported by jobcast yet", code=None,
            http_status=None, error_code="NOT_SUPPORTED",
        )  # fmt: skip
    return images[0]


def _post_body(account_id: str, content: PostContent) -> dict[str, Any]:
    """The post without its image (an article when its format is a link and it has one)."""
    body: dict[str, Any] = {
        "author": organization_urn(account_id),
        "commentary": escape(content.text),
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    is_link = post_format_of(Platform.LINKEDIN, content) is PostFormat.LINK
    if content.link is not None and is_link:
        body["content"] = {"article": {"source": str(content.link), "title": _title(content)}}
    return body


def _title(content: PostContent) -> str:
    """The link card's title (LinkedIn shows what it is given and does not read the page):
    the distributor's (the job's title), else the text's first line."""
    if content.title:
        return content.title[:TITLE_LIMIT]
    first = next((line.strip() for line in content.text.splitlines() if line.strip()), "")
    return (first or str(content.link))[:TITLE_LIMIT]


def _is_ours(post: dict[str, Any], wanted: dict[str, Any], since_ms: int) -> bool:
    if post.get("commentary") != wanted["commentary"]:
        return False
    if _created_before(post, since_ms):
        return False
    article = (wanted.get("content") or {}).get("article")
    if article is not None:
        found = ((post.get("content") or {}).get("article") or {}).get("source")
        return bool(found == article["source"])
    return True


def _created_before(post: dict[str, Any], since_ms: int) -> bool:
    created = post.get("createdAt")
    return isinstance(created, int) and created < since_ms


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)

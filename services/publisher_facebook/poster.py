"""Facebook Page posts: link/text, photo, multi-photo, video, Reel; edit, delete, reconcile."""

from __future__ import annotations

import json
from functools import partial

from pydantic import HttpUrl, ValidationError

from jobcast.graph.client import GraphClient, GraphError, permalink_of, read_permalink
from jobcast.platform_api import AmbiguousOutcomeError
from schemas.media import MediaKind, PostFormat
from services.publisher_facebook.reels import ReelUploader
from services.publishing.comments import find_comment, make_comment
from services.publishing.deletes import delete_post
from services.publishing.listing import Found, Listing, find_text
from services.publishing.posting import Absent, Attempt, Posted, Reconciliation, Undecided

# Asking for the permalink on the create call saves a round trip per post.
_WITH_PERMALINK = {"fields": "id,permalink_url"}
_FACEBOOK = "https://www.facebook.com"  # what a video's relative permalink is relative to


class FacebookPoster:
    """Publishes to a Page with its page token; Reels go through `reels` (the upload host)."""

    def __init__(self, reels: ReelUploader | None = None) -> None:
        self._reels = reels

    async def publish(self, attempt: Attempt[GraphClient]) -> Posted:
        """Pick the endpoint by the format: Reel, video, one photo, several photos, or none."""
        command, graph, token = attempt.command, attempt.api, attempt.token
        page, content = command.account_id, command.content
        images = [str(m.url) for m in content.media if m.kind is MediaKind.IMAGE]
        videos = [str(m.url) for m in content.media if m.kind is MediaKind.VIDEO]
        if videos and content.format is PostFormat.REEL:
            return await self._reel(attempt, videos[0])
        if videos:
            created = await graph.call(
                "POST", f"{page}/videos", token,
                data={"file_url": videos[0], "description": content.text},
            )  # fmt: skip
            video_id = str(created["id"])
            return Posted(video_id, None, partial(_video_permalink, graph, video_id, token))
        if len(images) == 1:
            created = await graph.call(
                "POST", f"{page}/photos", token, data={"url": images[0], "caption": content.text}
            )
            post_id = str(created.get("post_id") or created["id"])
        elif images:
            # Unpublished photos are invisible until attached, so uploading them
            # again on a retry leaves nothing behind on the Page.
            photo_ids = []
            for url in images:
                photo = await graph.call(
                    "POST", f"{page}/photos", token, data={"url": url, "published": "false"}
                )
                photo_ids.append(str(photo["id"]))
            created = await graph.call(
                "POST", f"{page}/feed", token, params=_WITH_PERMALINK,
                data={
                    "message": content.text,
                    "attached_media": json.dumps([{"media_fbid": p} for p in photo_ids]),
                },
            )  # fmt: skip
            post_id = str(created["id"])
        else:
            data = {"message": content.text}
            if content.link is not None:
                data["link"] = str(content.link)
            created = await graph.call(
                "POST", f"{page}/feed", token, data=data, params=_WITH_PERMALINK
            )
            post_id = str(created["id"])
        return Posted(post_id, *permalink_of(graph, created, post_id, token, "permalink_url"))

    async def _reel(self, attempt: Attempt[GraphClient], video_url: str) -> Posted:
        """Meta's Reels flow: start a session (its video id checkpointed), have the upload
        host fetch the video, then finish with the description as PUBLISHED."""
        if self._reels is None:
            raise GraphError("Reels are not configured on this publisher", code=None,
                             subcode=None, http_status=400)  # fmt: skip
        graph, token, progress = attempt.api, attempt.token, attempt.progress
        reels = f"{attempt.command.account_id}/video_reels"
        if "reel_video_id" not in progress:
            started = await graph.call("POST", reels, token, data={"upload_phase": "start"})
            progress["reel_video_id"] = str(started["video_id"])
            await attempt.checkpoint()
        video_id = str(progress["reel_video_id"])
        if not progress.get("reel_uploaded"):
            await self._reels.upload(video_id, video_url, token)
            progress["reel_uploaded"] = True
            await attempt.checkpoint()
        await graph.call(
            "POST", reels, token,
            data={"upload_phase": "finish", "video_id": video_id, "video_state": "PUBLISHED",
                  "description": attempt.command.content.text},
        )  # fmt: skip
        return Posted(video_id, None, partial(_video_permalink, graph, video_id, token))

    async def _reconcile_reel(self, attempt: Attempt[GraphClient], video_id: str) -> Reconciliation:
        """A Reel's session tells: published (or publishing) means posted; an upload or
        publish phase not reached means not posted, and the flow resumes."""
        try:
            found = await attempt.api.call(
                "GET", video_id, attempt.token, params={"fields": "status"}
            )
        except (GraphError, AmbiguousOutcomeError) as exc:
            return Undecided(f"could not read the Reel's status: {exc}")
        status = found.get("status") or {}
        uploading = (status.get("uploading_phase") or {}).get("status")
        publishing = (status.get("publishing_phase") or {}).get("status")
        if publishing in ("complete", "in_progress"):
            return Posted(
                video_id, None, partial(_video_permalink, attempt.api, video_id, attempt.token)
            )
        if uploading != "complete":
            attempt.progress.pop("reel_uploaded", None)
        if publishing in (None, "not_started") or status.get("video_status") == "error":
            return Absent()
        return Undecided(f"Reel publishing phase {publishing!r}")

    async def reconcile(self, attempt: Attempt[GraphClient]) -> Reconciliation:
        """Look for our message among the Page's posts since the claim (Meta has no
        idempotency key).

        Every page of posts since the claim is read: a busy Page can have published many
        posts between the ambiguous call and this check, and stopping at the newest few
        would call a post that exists "absent" and post it again.
        """
        command, graph, token = attempt.command, attempt.api, attempt.token
        reel_video_id = attempt.progress.get("reel_video_id")
        if reel_video_id is not None:
            return await self._reconcile_reel(attempt, str(reel_video_id))
        found = await find_text(
            attempt, _published_posts(command.account_id), command.content.text,
            since=attempt.since,
        )  # fmt: skip
        if not isinstance(found, Found):
            return found
        return Posted(
            found.entry_id, None,
            partial(read_permalink, graph, found.entry_id, token, "permalink_url"),
        )  # fmt: skip

    async def edit(self, attempt: Attempt[GraphClient], post_id: str) -> bool:
        """Facebook edits a post's message in place; a video's (or Reel's) description.

        A video post is known by its id: a video id is bare, a feed or photo post's id is
        `{page}_{post}`."""
        field = "message" if "_" in post_id else "description"
        await attempt.api.call(
            "POST", post_id, attempt.token, data={field: attempt.command.content.text}
        )
        return True

    async def comment(self, attempt: Attempt[GraphClient], post_id: str, text: str) -> str:
        """The first comment on a live post."""
        return await make_comment(attempt, post_id, text)

    async def find_comment(
        self, attempt: Attempt[GraphClient], post_id: str, text: str
    ) -> Reconciliation:
        """Our comment among the post's comments (a comment's text is its `message`)."""
        return await find_comment(attempt, post_id, text, text_field="message")

    async def delete(self, attempt: Attempt[GraphClient], post_id: str) -> bool:
        """Delete the post; one already gone counts as deleted (deletes get retried)."""
        return await delete_post(attempt, post_id)


async def _video_permalink(graph: GraphClient, video_id: str, token: str) -> HttpUrl | None:
    """A video's permalink: Meta answers a path ("/reel/1/", "/{page}/videos/1/")."""
    try:
        found = await graph.call("GET", video_id, token, params={"fields": "permalink_url"})
    except (GraphError, AmbiguousOutcomeError):
        return None  # the video exists: a failed read-back is no failure
    link = str(found.get("permalink_url") or "")
    if link.startswith("/"):
        link = _FACEBOOK + link
    try:
        return HttpUrl(link)
    except ValidationError:
        return None


def _published_posts(page: str) -> Listing:
    # A busy Page can publish many posts between the ambiguous call and the check.
    return Listing(
        f"{page}/published_posts", "message", "the Page's posts",
        time_field="created_time", max_pages=20,
    )  # fmt: skip

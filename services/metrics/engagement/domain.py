"""Pure rules of engagement: which checkpoints a post gets, what the collector asks Meta
for and how its answers become numbers, which webhook changes are comments."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas.engagement import EngagementMetrics


def due_checkpoints(
    status: str, previous_status: str | None, action: str, checkpoints: Sequence[int]
) -> Sequence[int]:
    """The engagement checkpoints to schedule when a post's state moves: all of them the
    first time a publish is seen posted, none otherwise."""
    if action == "publish" and status == "posted" and previous_status != "posted":
        return checkpoints
    return ()


# What the collector asks Meta for (graph-api.md: today's names; `impressions` is gone).
FB_INSIGHTS = ("post_total_media_view_unique", "post_clicks", "post_reactions_by_type_total")
FB_COUNT_FIELDS = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
IG_INSIGHTS = ("reach", "views", "likes", "comments", "shares", "saved", "total_interactions")
THREADS_INSIGHTS = ("views", "likes", "replies", "reposts", "quotes")


def insight_values(body: Mapping[str, Any]) -> dict[str, int]:
    """`{"data":[{"name","values":[{"value":N | {type: N}}]}]}` → {name: total}."""
    values: dict[str, int] = {}
    for item in body.get("data") or ():
        if not isinstance(item, dict) or not item.get("values"):
            continue
        value = item["values"][-1].get("value")
        if isinstance(value, dict):  # e.g. reactions by type: the total is the sum
            value = sum(v for v in value.values() if isinstance(v, int))
        if isinstance(value, int) and not isinstance(value, bool):
            values[str(item.get("name"))] = value
    return values


def _summary_count(fields: Mapping[str, Any], edge: str) -> int | None:
    summary = (fields.get(edge) or {}).get("summary") or {}
    count = summary.get("total_count")
    return count if isinstance(count, int) else None


def facebook_engagement(
    insights: Mapping[str, int], fields: Mapping[str, Any]
) -> tuple[EngagementMetrics, dict[str, int]]:
    """A Page post's numbers: insights plus the post's own share/reaction/comment counts."""
    shares = (fields.get("shares") or {}).get("count", 0)  # Meta omits `shares` at zero
    comments = _summary_count(fields, "comments")
    reactions = insights.get("post_reactions_by_type_total", _summary_count(fields, "reactions"))
    parts = [n for n in (reactions, comments, shares) if n is not None]
    metrics = EngagementMetrics(
        views=insights.get("post_total_media_view_unique"),
        reactions=reactions,
        comments=comments,
        shares=shares,
        clicks=insights.get("post_clicks"),
        total_interactions=sum(parts) if parts else None,
    )
    raw = dict(insights)
    raw.update({"shares": shares} if isinstance(shares, int) else {})
    raw.update({"comments": comments} if comments is not None else {})
    return metrics, raw


def instagram_engagement(insights: Mapping[str, int]) -> tuple[EngagementMetrics, dict[str, int]]:
    """An Instagram media's numbers, named as Meta names them."""
    return EngagementMetrics(**{k: insights.get(k) for k in IG_INSIGHTS}), dict(insights)


def linkedin_engagement(body: Mapping[str, Any]) -> tuple[EngagementMetrics, dict[str, int]]:
    """A LinkedIn post's numbers from its social actions (`GET /rest/socialActions/{urn}`):
    likes (LinkedIn's reactions) and comments; LinkedIn reports no views or shares there."""
    likes = _count_in(body, "likesSummary", "totalLikes")
    comments = _count_in(body, "commentsSummary", "aggregatedTotalComments")
    counted = [n for n in (likes, comments) if n is not None]
    metrics = EngagementMetrics(
        likes=likes, comments=comments, total_interactions=sum(counted) if counted else None
    )
    raw = {"likes": likes} if likes is not None else {}
    raw.update({"comments": comments} if comments is not None else {})
    return metrics, raw


def _count_in(body: Mapping[str, Any], summary: str, name: str) -> int | None:
    part = body.get(summary)
    value = part.get(name) if isinstance(part, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def threads_engagement(insights: Mapping[str, int]) -> tuple[EngagementMetrics, dict[str, int]]:
    """A Threads post's numbers: its replies are its comments."""
    interactions = [insights.get(k) for k in ("likes", "replies", "reposts", "quotes")]
    counted = [n for n in interactions if n is not None]
    metrics = EngagementMetrics(
        views=insights.get("views"),
        likes=insights.get("likes"),
        comments=insights.get("replies"),
        reposts=insights.get("reposts"),
        quotes=insights.get("quotes"),
        total_interactions=sum(counted) if counted else None,
    )
    return metrics, dict(insights)


def webhook_comment(
    obj: str, field: str, value: Mapping[str, Any]
) -> tuple[str, str, str, bool] | None:
    """(platform, comment_id, platform_post_id, removed) if a webhook change is a comment.

    Page `feed` changes with item `comment` (verb add/remove; edits change no count), and
    Instagram `comments` changes (Meta sends only new comments for media).
    """
    if obj == "page" and field == "feed" and value.get("item") == "comment":
        verb, comment_id, post_id = value.get("verb"), value.get("comment_id"), value.get("post_id")
        if verb in ("add", "remove") and comment_id and post_id:
            return ("facebook", str(comment_id), str(post_id), verb == "remove")
    if obj == "instagram" and field == "comments":
        media = value.get("media") or {}
        comment_id, media_id = value.get("id"), media.get("id") if isinstance(media, dict) else None
        if comment_id and media_id:
            return ("instagram", str(comment_id), str(media_id), False)
    return None

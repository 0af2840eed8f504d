"""Pure rules of the read model: which result may replace which, cursors, analytics."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx

from jobcast.destinations import host_problem
from schemas.engagement import EngagementMetrics
from schemas.publish import PublishStatus

# Later lifecycle stages outrank earlier ones, so an old result arriving late
# (redelivery, replay, out-of-order partitions) can never regress a post.
STATUS_RANK: dict[PublishStatus, int] = {
    PublishStatus.AWAITING_APPROVAL: 1,
    PublishStatus.SCHEDULED: 2,
    PublishStatus.HELD: 3,
    PublishStatus.RETRY_SCHEDULED: 10,
    PublishStatus.SKIPPED: 10,
    PublishStatus.FAILED: 10,
    PublishStatus.UNCONFIRMED: 10,
    PublishStatus.CANCELLED: 15,  # only ever before sending, so nothing later can follow
    PublishStatus.POSTED: 20,
    PublishStatus.EDITED: 30,
    PublishStatus.CANNOT_DELETE: 40,
    PublishStatus.DELETED: 40,
}


def encode_cursor(first_seen_at: datetime, post_key: str) -> str:
    """An opaque position in `GET /v1/posts` (after the post it was taken from)."""
    raw = f"{first_seen_at.isoformat()}|{post_key}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; ValueError if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, post_key = raw.partition("|")
        first_seen_at = datetime.fromisoformat(when)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor returned by this API") from None
    if first_seen_at.tzinfo is None or not post_key.startswith("pk_"):
        raise ValueError("not a cursor returned by this API")
    return first_seen_at, post_key


def ratio(part: int | None, whole: int | None) -> float | None:
    """part / whole rounded to 4 places, or None when there is nothing to divide by."""
    if part is None or not whole:
        return None
    return round(part / whole, 4)


# Engagement metrics in jobcast's names (columns of the engagement tables, in this order).
METRIC_NAMES = (
    "views",
    "reach",
    "reactions",
    "likes",
    "comments",
    "shares",
    "clicks",
    "saved",
    "total_interactions",
)


def due_checkpoints(
    status: str, previous_status: str | None, action: str, checkpoints: Sequence[int]
) -> Sequence[int]:
    """The engagement checkpoints to schedule when a post's state moves: all of them the
    first time a publish is seen posted, none otherwise."""
    if action == "publish" and status == "posted" and previous_status != "posted":
        return checkpoints
    return ()


# --------------------------------------------------------------------------- engagement
# What the collector asks Meta for (graph-api.md: today's names; `impressions` is gone).
FB_INSIGHTS = ("post_total_media_view_unique", "post_clicks", "post_reactions_by_type_total")
FB_COUNT_FIELDS = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
IG_INSIGHTS = ("reach", "views", "likes", "comments", "shares", "saved", "total_interactions")


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


def next_try_in(tries: int, delays: Sequence[float]) -> float | None:
    """Seconds before the next try after `tries` failed ones, or None: give up."""
    return delays[tries - 1] if 0 < tries <= len(delays) else None


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


# --------------------------------------------------------------------------- outbound webhooks
LIFECYCLE_WEBHOOKS = {
    "scheduled": "post.scheduled",
    "posted": "post.posted",
    "failed": "post.failed",
    "unconfirmed": "post.unconfirmed",
}


def lifecycle_webhook(status: str, previous_status: str | None, action: str) -> str | None:
    """The webhook a post's transition announces (a publish entering one of four statuses)."""
    if action != "publish" or status == previous_status:
        return None
    return LIFECYCLE_WEBHOOKS.get(status)


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify_webhook(
    secret: str, header: str, body: bytes, *, now: float, tolerance_seconds: float = 300
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_seconds:
        return False
    expected = sign_webhook(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def new_webhook_secret() -> str:
    """A signing secret for a tenant (shown once; stored encrypted)."""
    return "whsec_" + secrets.token_urlsafe(32)


def acceptable_webhook_url(
    url: str, *, allow_insecure: bool, allow_loopback: bool = False
) -> str | None:
    """Why `url` cannot receive webhooks, or None: https (http only if `allow_insecure`),
    no credentials, and a host that may be public (the request comes from inside
    jobcast's network). Only what the URL shows is judged here; the addresses a name
    resolves to are checked at every delivery (`jobcast.public_http`). `allow_loopback`
    lets a receiver on this machine through, for development and tests."""
    try:
        parsed = httpx.URL(url)  # as the sender will read it
    except httpx.InvalidURL:
        return "is not a valid URL"
    if parsed.scheme not in ("https", "http") or not parsed.raw_host:
        return "must be an http(s) URL with a host"
    if parsed.userinfo:
        return "must not carry credentials"
    if parsed.scheme != "https" and not allow_insecure:
        return "must use https"
    problem = host_problem(parsed.raw_host.decode("ascii"), allow_loopback=allow_loopback)
    return None if problem is None else f"must reach a public host ({problem})"

"""Pure rules of the read model: which result may replace which, cursors, analytics."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from schemas.engagement import EngagementMetrics
from schemas.publish import FirstCommentStatus, PublishStatus

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


# A first comment's outcomes, in the same spirit: a final one is never overwritten.
FIRST_COMMENT_RANK: dict[FirstCommentStatus, int] = {
    FirstCommentStatus.PENDING: 1,
    FirstCommentStatus.RETRY_SCHEDULED: 10,
    FirstCommentStatus.UNCONFIRMED: 10,
    FirstCommentStatus.POSTED: 20,
    FirstCommentStatus.FAILED: 20,
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
METRIC_NAMES = tuple(EngagementMetrics.model_fields)

"""The read API's posts and analytics as CSV text (pure, no I/O).

Input is what the read API answers, decoded from JSON: the items of `GET /v1/posts` pages
(`posts`) and the body of `GET /v1/analytics`. Columns have a fixed order (`POST_COLUMNS`,
`ANALYTICS_COLUMNS`), so a spreadsheet built on one export reads the next. Output is lines
of RFC 4180 CSV (CRLF), produced one at a time, so a long export streams.

Text from tenants and platforms (a job id, an error message) is data: a cell that starts
with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`, so a spreadsheet
shows it instead of evaluating it as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence

from schemas.engagement import EngagementMetrics
from schemas.publish import PublishStatus

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

LIFECYCLE_COLUMNS = (
    "first_seen_at",
    "requested_at",
    "scheduled_for",
    "awaiting_approval_at",
    "held_at",
    "first_attempt_at",
    "posted_at",
    "unconfirmed_at",
    "failed_at",
    "cancelled_at",
    "skipped_at",
    "edited_at",
    "deleted_at",
)

POST_COLUMNS = (
    "post_key",
    "job_id",
    "platform",
    "connection_id",
    "action",
    "status",
    "attempt",
    "attempt_count",
    "platform_post_id",
    "permalink",
    "error_class",
    "error_code",
    "error_subcode",
    "error_message",
    "next_attempt_at",
    "updated_at",
    "media_format",
    "media_images",
    "media_videos",
    "first_comment_status",
    "first_comment_id",
    "first_comment_attempts",
    "first_comment_error",
    *LIFECYCLE_COLUMNS,
)
"""A post's columns: the `PostView` fields, its `error`, `media`, `first_comment` and
`lifecycle` flattened."""

ENGAGEMENT_COLUMNS = (
    "posts_measured",
    *EngagementMetrics.model_fields,
    "webhook_comments",
    "engagement_rate",
)

ANALYTICS_COLUMNS = (
    "group_by",
    "key",
    "from",
    "to",
    "posts",
    "published",
    "failed",
    "success_rate",
    "time_to_publish_avg_seconds",
    "time_to_publish_p50_seconds",
    "time_to_publish_p95_seconds",
    *ENGAGEMENT_COLUMNS,
    *(f"status_{status.value}" for status in PublishStatus),
)
"""An analytics group's columns; `status_<status>` counts its posts in each status."""


def safe_cell(value: object) -> str:
    """A value as a CSV cell: empty for null, `true`/`false`, numbers as Python writes
    them, and text that a spreadsheet would run as a formula prefixed with `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_line(cells: Sequence[object]) -> str:
    """One CSV record (ending in CRLF) of the cells, each made safe."""
    out = io.StringIO()
    csv.writer(out).writerow([safe_cell(cell) for cell in cells])
    return out.getvalue()


def post_row(post: Mapping[str, object]) -> list[object]:
    """A `GET /v1/posts` item as the values of `POST_COLUMNS`."""
    error = _mapping(post.get("error"))
    lifecycle = _mapping(post.get("lifecycle"))
    media = _mapping(post.get("media"))
    comment = _mapping(post.get("first_comment"))
    flat = {
        **post,
        "error_class": error.get("error_class"),
        "error_code": error.get("code"),
        "error_subcode": error.get("subcode"),
        "error_message": error.get("message"),
        "media_format": media.get("format"),
        "media_images": media.get("images"),
        "media_videos": media.get("videos"),
        "first_comment_status": comment.get("status"),
        "first_comment_id": comment.get("comment_id"),
        "first_comment_attempts": comment.get("attempts"),
        "first_comment_error": _mapping(comment.get("error")).get("message"),
        **{column: lifecycle.get(column) for column in LIFECYCLE_COLUMNS},
    }
    return [flat.get(column) for column in POST_COLUMNS]


def posts_csv(posts: Iterable[Mapping[str, object]], *, header: bool = True) -> Iterator[str]:
    """The posts as CSV lines: the header (unless `header=False`, for a later page), then
    one line per post in the order given."""
    if header:
        yield csv_line(POST_COLUMNS)
    for post in posts:
        yield csv_line(post_row(post))


def analytics_csv(analytics: Mapping[str, object]) -> Iterator[str]:
    """A `GET /v1/analytics` body as CSV lines: the header, then one line per group."""
    yield csv_line(ANALYTICS_COLUMNS)
    groups = analytics.get("groups")
    for group in groups if isinstance(groups, list) else []:
        yield csv_line(_analytics_row(analytics, _mapping(group)))


def _analytics_row(analytics: Mapping[str, object], group: Mapping[str, object]) -> list[object]:
    ttp = _mapping(group.get("time_to_publish"))
    engagement = _mapping(group.get("engagement"))
    by_status = _mapping(group.get("by_status"))
    flat: dict[str, object] = {
        "group_by": analytics.get("group_by"),
        "from": analytics.get("from"),
        "to": analytics.get("to"),
        **group,
        "time_to_publish_avg_seconds": ttp.get("avg_seconds"),
        "time_to_publish_p50_seconds": ttp.get("p50_seconds"),
        "time_to_publish_p95_seconds": ttp.get("p95_seconds"),
        **{column: engagement.get(column) for column in ENGAGEMENT_COLUMNS},
        **{f"status_{status.value}": by_status.get(status.value, 0) for status in PublishStatus},
    }
    return [flat.get(column) for column in ANALYTICS_COLUMNS]


def _mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, Mapping) else {}

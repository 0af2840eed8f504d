"""What the read model is made of, as values: the rows it takes from events (one per
event, in the column order the live path and the rebuild share), and the transitions it
reports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from schemas.engagement import EngagementCollected
from schemas.platforms import Platform
from schemas.publish import (
    ErrorClass,
    FirstCommentStatus,
    PublishAction,
    PublishCompleted,
    PublishStatus,
)
from services.metrics.readmodel.domain import FIRST_COMMENT_RANK, METRIC_NAMES, STATUS_RANK

# One row per event, in this order: what the live path passes as arrays and the rebuild
# COPYs into its staging table.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "uuid"),
    ("post_key", "text"),
    ("tenant_id", "uuid"),
    ("job_id", "text"),
    ("connection_id", "uuid"),
    ("platform", "text"),
    ("action", "text"),
    ("status", "text"),
    ("status_rank", "smallint"),
    ("attempt", "integer"),
    ("platform_post_id", "text"),
    ("permalink", "text"),
    ("error_class", "text"),
    ("error_code", "integer"),
    ("error_subcode", "integer"),
    ("error_message", "text"),
    ("http_status", "integer"),
    ("latency_ms", "integer"),
    ("next_attempt_at", "timestamptz"),
    ("completed_at", "timestamptz"),
    ("requested_at", "timestamptz"),
    ("media_format", "text"),
    ("media_images", "smallint"),
    ("media_videos", "smallint"),
    ("first_comment", "text"),
)
EVENT_COLUMN_NAMES = tuple(name for name, _ in EVENT_COLUMNS)

EventRow = tuple[Any, ...]


class ResultFields(Protocol):
    """What a row takes from a result as it was decoded (the contract model, or the
    rebuild's fast decoder): the fields whose values need no conversion."""

    @property
    def post_key(self) -> str: ...
    @property
    def job_id(self) -> str: ...
    @property
    def connection_id(self) -> UUID: ...
    @property
    def platform(self) -> Platform: ...
    @property
    def action(self) -> PublishAction: ...
    @property
    def status(self) -> PublishStatus: ...
    @property
    def attempt(self) -> int: ...
    @property
    def platform_post_id(self) -> str | None: ...
    @property
    def http_status(self) -> int | None: ...
    @property
    def latency_ms(self) -> int | None: ...


class MediaFields(Protocol):
    @property
    def format(self) -> str: ...
    @property
    def images(self) -> int: ...
    @property
    def videos(self) -> int: ...


class FirstCommentFields(Protocol):
    @property
    def status(self) -> FirstCommentStatus: ...
    @property
    def comment_id(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def error(self) -> ErrorFields | None: ...


class ErrorFields(Protocol):
    @property
    def error_class(self) -> ErrorClass: ...
    @property
    def code(self) -> int | None: ...
    @property
    def subcode(self) -> int | None: ...
    @property
    def message(self) -> str: ...


def event_row(
    r: ResultFields,
    e: ErrorFields | None,
    *,
    event_id: UUID,
    tenant_id: UUID,
    permalink: str | None,
    next_attempt_at: datetime | None,
    completed_at: datetime,
    requested_at: datetime | None,
    media: MediaFields | None = None,
    first_comment: FirstCommentFields | None = None,
) -> EventRow:
    """A row of EVENT_COLUMNS; the keyword values already as stored (times in UTC). The
    enums are StrEnums, stored as the strings they are (`.value` is a Python-level
    property: four calls cost more than the rest of the row)."""
    return (
        event_id,
        r.post_key,
        tenant_id,
        r.job_id,
        r.connection_id,
        r.platform,
        r.action,
        r.status,
        STATUS_RANK[r.status],
        r.attempt,
        r.platform_post_id,
        permalink,
        e.error_class if e else None,
        e.code if e else None,
        e.subcode if e else None,
        e.message if e else None,
        r.http_status,
        r.latency_ms,
        next_attempt_at,
        completed_at,
        requested_at,
        media.format if media else None,
        media.images if media else None,
        media.videos if media else None,
        first_comment_key(first_comment, completed_at, event_id) if first_comment else None,
    )


FIRST_COMMENT_KEY_LENGTH = 2 + 10 + 17 + 32


def first_comment_key(c: FirstCommentFields, completed_at: datetime, event_id: UUID) -> str:
    """A result's first comment in its comparable form (see metrics migration 006): a
    fixed-width key (rank, attempts, microseconds, event id) that decides, then the JSON."""
    micros = round(completed_at.astimezone(UTC).timestamp() * 1_000_000)
    e = c.error
    details = {
        "status": c.status,
        "comment_id": c.comment_id,
        "attempts": c.attempts,
        "error": {"error_class": e.error_class, "message": e.message} if e else None,
    }
    key = f"{FIRST_COMMENT_RANK[c.status]:02d}{c.attempts:010d}{micros:017d}{event_id.hex}"
    return key + json.dumps(details, ensure_ascii=False)


def first_comment_of(stored: str | None) -> dict[str, Any] | None:
    """The JSON part of a stored first-comment value."""
    if stored is None:
        return None
    found: dict[str, Any] = json.loads(stored[FIRST_COMMENT_KEY_LENGTH:])
    return found


def result_row(event: PublishCompleted) -> EventRow:
    """An event as a row of EVENT_COLUMNS."""
    r = event.payload
    return event_row(
        r,
        r.error,
        event_id=event.event_id,
        tenant_id=event.tenant_id,
        permalink=str(r.permalink) if r.permalink is not None else None,
        next_attempt_at=r.next_attempt_at,
        completed_at=r.completed_at,
        requested_at=r.requested_at,
        media=r.media,
        first_comment=r.first_comment,
    )


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A post whose current state moved (status or attempt) because of a batch."""

    post_key: str
    tenant_id: UUID
    job_id: str
    connection_id: UUID
    platform: str
    action: str
    status: str
    attempt: int
    previous_status: str | None
    status_event_id: UUID
    at: datetime
    platform_post_id: str | None
    permalink: str | None
    error_class: str | None
    error_code: int | None
    error_message: str | None
    posted_at: datetime | None
    next_attempt_at: datetime | None


SNAPSHOT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "uuid"),
    ("post_key", "text"),
    ("tenant_id", "uuid"),
    ("job_id", "text"),
    ("connection_id", "uuid"),
    ("platform", "text"),
    ("platform_post_id", "text"),
    ("checkpoint_seconds", "integer"),
    ("collected_at", "timestamptz"),
    *((name, "bigint") for name in METRIC_NAMES),
)
SNAPSHOT_COLUMN_NAMES = tuple(name for name, _ in SNAPSHOT_COLUMNS)


def snapshot_row(event: EngagementCollected) -> EventRow:
    """An engagement event as a row of SNAPSHOT_COLUMNS."""
    s = event.payload
    m = s.metrics
    return (
        event.event_id,
        s.post_key,
        event.tenant_id,
        s.job_id,
        s.connection_id,
        s.platform.value,
        s.platform_post_id,
        s.checkpoint_seconds,
        s.collected_at,
        *(getattr(m, name) for name in METRIC_NAMES),
    )

"""The tenant-scoped read API: posts with their attempts, a paginated list, analytics and
a live stream of status changes. Every query is filtered by the caller's tenant."""

# No `from __future__ import annotations` here: FastAPI must see the dependency closures.
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel, Field

from jobcast.auth import KEY_CACHE_SECONDS, TenantDependency, bearer_key
from jobcast.http_edge import too_many_requests
from jobcast.rate_limits import RateLimiter
from jobcast.tenancy import Tenant, identify
from schemas.media import PostedMedia
from schemas.platforms import Platform
from schemas.publish import PublishStatus
from services.metrics.readmodel import repo
from services.metrics.readmodel.domain import METRIC_NAMES, decode_cursor, encode_cursor, ratio
from services.metrics.readmodel.models import first_comment_of
from services.metrics.readmodel.stream import StatusHub, live_events

MAX_PAGE = 500
MAX_ANALYTICS_DAYS = 366


class PostError(BaseModel):
    error_class: str
    code: int | None
    subcode: int | None
    message: str | None


class AttemptView(BaseModel):
    attempt: int
    outcome: str
    occurred_at: datetime
    error: PostError | None
    http_status: int | None
    latency_ms: int | None
    platform_post_id: str | None
    permalink: str | None
    next_attempt_at: datetime | None


class Lifecycle(BaseModel):
    """When the post reached each stage (null: never)."""

    first_seen_at: datetime
    requested_at: datetime | None
    scheduled_for: datetime | None
    awaiting_approval_at: datetime | None
    held_at: datetime | None
    first_attempt_at: datetime | None
    posted_at: datetime | None
    unconfirmed_at: datetime | None
    failed_at: datetime | None = Field(description="The last failure")
    cancelled_at: datetime | None
    skipped_at: datetime | None
    edited_at: datetime | None
    deleted_at: datetime | None


class FirstCommentError(BaseModel):
    error_class: str
    message: str


class FirstCommentView(BaseModel):
    """The post's first comment; its failure leaves the post as it is."""

    status: str = Field(description="pending, retry_scheduled, unconfirmed, posted or failed")
    comment_id: str | None
    attempts: int
    error: FirstCommentError | None


class PostView(BaseModel):
    post_key: str
    job_id: str
    platform: str
    connection_id: UUID
    action: str
    status: str
    attempt: int
    attempt_count: int = Field(description="Publisher attempts recorded for this post")
    platform_post_id: str | None
    permalink: str | None
    error: PostError | None = Field(description="Why the post is in its current state")
    next_attempt_at: datetime | None
    lifecycle: Lifecycle
    updated_at: datetime = Field(description="When the current status was reported")
    media: PostedMedia | None = Field(default=None, description="What the post was made of")
    first_comment: FirstCommentView | None = Field(
        default=None, description="Null when the post has no first comment"
    )


class EngagementCounts(BaseModel):
    """Counts as the platform reported them (null: not reported for this platform)."""

    views: int | None
    reach: int | None
    reactions: int | None
    likes: int | None
    comments: int | None
    shares: int | None
    clicks: int | None
    saved: int | None
    total_interactions: int | None
    reposts: int | None
    quotes: int | None


class EngagementSnapshotView(EngagementCounts):
    checkpoint_seconds: int = Field(description="Seconds after posting it was due")
    collected_at: datetime


class EngagementView(EngagementSnapshotView):
    """The latest snapshot, every snapshot so far, and comments reported by webhook."""

    webhook_comments: int
    history: list[EngagementSnapshotView]


class PostWithAttempts(PostView):
    attempts: list[AttemptView]
    engagement: EngagementView | None = Field(description="Null until first collected")


class JobPostsView(BaseModel):
    job_id: str
    posts: list[PostWithAttempts]


class PostPage(BaseModel):
    posts: list[PostView]
    next_cursor: str | None = Field(description="Pass back as `cursor` for older posts")


class TimeToPublish(BaseModel):
    """Seconds from the publish command to the post being live (published posts only)."""

    avg_seconds: float | None
    p50_seconds: float | None
    p95_seconds: float | None


class EngagementTotals(EngagementCounts):
    """Sums over the latest snapshot of each measured post (null: no post reports it)."""

    posts_measured: int
    webhook_comments: int = Field(description="Comments Meta reported by webhook")
    engagement_rate: float | None = Field(description="total_interactions / views")


class AnalyticsGroup(BaseModel):
    key: str
    posts: int
    by_status: dict[str, int]
    published: int
    failed: int
    success_rate: float | None = Field(description="published / (published + failed)")
    time_to_publish: TimeToPublish
    engagement: EngagementTotals


class AnalyticsView(BaseModel):
    group_by: str
    from_: datetime = Field(alias="from")
    to: datetime
    groups: list[AnalyticsGroup]


def read_router(
    pool: asyncpg.Pool,
    tenant_dependency: TenantDependency,
    hub: StatusHub,
    *,
    reads: RateLimiter[UUID],
    keepalive_seconds: float = 15.0,
) -> APIRouter:
    """The read API routes, bound to a pool, a tenant dependency and the status hub.

    Every read (a stream counts once, when it opens) takes a token of the tenant's bucket
    in `reads`; without one the answer is 429 with Retry-After.
    """
    router = APIRouter()

    async def reader(request: Request) -> Tenant:
        tenant = await tenant_dependency(request)
        wait = reads.take(tenant.tenant_id)
        if wait > 0:
            raise too_many_requests(wait, "read rate limit for this tenant exceeded")
        return tenant

    caller = Depends(reader)

    @router.get("/v1/jobs/{job_id}/posts", response_model=JobPostsView)
    async def job_posts(job_id: str, tenant: Annotated[Tenant, caller]) -> JobPostsView:
        """Where a job was posted, per connection, with every publisher attempt."""
        rows = await repo.posts_of_job(pool, tenant.tenant_id, job_id)
        engagement = await repo.engagement_of_job(pool, tenant.tenant_id, job_id)
        posts = [
            PostWithAttempts(
                **_post(r).model_dump(),
                attempts=[_attempt(a) for a in r["attempts"]],
                engagement=(
                    EngagementView.model_validate(engagement[r["post_key"]])
                    if r["post_key"] in engagement
                    else None
                ),
            )
            for r in rows
        ]
        return JobPostsView(job_id=job_id, posts=posts)

    @router.get("/v1/posts", response_model=PostPage)
    async def list_posts(
        *,
        tenant: Annotated[Tenant, caller],
        status: PublishStatus | None = None,
        platform: Platform | None = None,
        since: Annotated[
            datetime | None, Query(description="first_seen_at at or after (ISO 8601)")
        ] = None,
        until: Annotated[datetime | None, Query(description="first_seen_at before")] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> PostPage:
        """The tenant's posts, newest first; the cursor is stable while new posts arrive."""
        try:
            after = decode_cursor(cursor) if cursor else None
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        rows = await repo.list_posts(
            pool, tenant.tenant_id,
            status=status.value if status else None,
            platform=platform.value if platform else None,
            since=_aware(since, "since"), until=_aware(until, "until"),
            after=after, limit=limit + 1,
        )  # fmt: skip
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if more else None
        return PostPage(
            posts=[_post(r) for r in rows],
            next_cursor=encode_cursor(last["first_seen_at"], last["post_key"]) if last else None,
        )

    @router.get("/v1/analytics", response_model=AnalyticsView, response_model_by_alias=True)
    async def analytics(
        *,
        tenant: Annotated[Tenant, caller],
        group_by: Literal["platform", "day", "job"] = "platform",
        from_: Annotated[
            datetime | None, Query(alias="from", description="default: 30 days before `to`")
        ] = None,
        to: Annotated[datetime | None, Query(description="default: now")] = None,
    ) -> AnalyticsView:
        """Counts by status, success rate, time to publish and engagement, per group."""
        end = _aware(to, "to") or datetime.now(UTC)
        start = _aware(from_, "from") or end - timedelta(days=30)
        if start >= end:
            raise HTTPException(422, "`from` must be before `to`")
        if end - start > timedelta(days=MAX_ANALYTICS_DAYS):
            raise HTTPException(422, f"at most {MAX_ANALYTICS_DAYS} days at once")
        rows = await repo.analytics(pool, tenant.tenant_id, group_by, start, end)
        return AnalyticsView.model_validate(
            {"group_by": group_by, "from": start, "to": end, "groups": [_group(r) for r in rows]}
        )

    @router.get("/v1/stream", response_class=EventSourceResponse)
    async def stream(
        tenant: Annotated[Tenant, caller], request: Request
    ) -> AsyncIterator[ServerSentEvent]:
        """Server-Sent Events: `post.status` for each change of the tenant's posts.

        A comment line every few seconds keeps proxies from closing an idle stream. A
        client that falls too far behind is disconnected; on reconnect it should read
        the current state from `GET /v1/posts`. The key is checked again while the
        stream is open: once it is revoked, a `revoked` event ends the stream.
        """
        api_key = bearer_key(request) or ""  # present: the dependency authenticated it

        async def still_authorized() -> bool:
            # The database, not the key cache: the cache is what bounds this wait.
            return await identify(pool, api_key) is not None

        async with (
            hub.subscribe(tenant.tenant_id) as subscription,
            contextlib.aclosing(
                live_events(
                    subscription,
                    keepalive_seconds=keepalive_seconds,
                    recheck_seconds=min(keepalive_seconds, KEY_CACHE_SECONDS),
                    still_authorized=still_authorized,
                )
            ) as events,
        ):
            async for event in events:
                yield event

    return router


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"`{name}` needs a time zone (e.g. 2026-05-01T00:00:00Z)")
    return value


def _error(row: dict[str, Any]) -> PostError | None:
    if not row["error_class"]:
        return None
    return PostError(
        error_class=row["error_class"],
        code=row["error_code"],
        subcode=row["error_subcode"],
        message=row["error_message"],
    )


def _post(row: dict[str, Any]) -> PostView:
    return PostView(
        post_key=row["post_key"],
        job_id=row["job_id"],
        platform=row["platform"],
        connection_id=row["connection_id"],
        action=row["action"],
        status=row["status"],
        attempt=row["attempt"],
        attempt_count=row["attempt_count"],
        platform_post_id=row["platform_post_id"],
        permalink=row["permalink"],
        error=_error(row),
        next_attempt_at=row["next_attempt_at"],
        lifecycle=Lifecycle.model_validate(row),
        updated_at=row["status_changed_at"],
        media=(
            PostedMedia(
                format=row["media_format"], images=row["media_images"], videos=row["media_videos"]
            )
            if row.get("media_format")
            else None
        ),
        first_comment=first_comment_of(row["first_comment"]),
    )


def _attempt(row: dict[str, Any]) -> AttemptView:
    return AttemptView(
        attempt=row["attempt"],
        outcome=row["outcome"],
        occurred_at=row["occurred_at"],
        error=_error(row),
        http_status=row["http_status"],
        latency_ms=row["latency_ms"],
        platform_post_id=row["platform_post_id"],
        permalink=row["permalink"],
        next_attempt_at=row["next_attempt_at"],
    )


def _group(row: dict[str, Any]) -> AnalyticsGroup:
    by_status = row["by_status"]
    failed = by_status.get("failed", 0)
    interactions, views = row["total_interactions"], row["views"]
    return AnalyticsGroup(
        key=row["key"],
        posts=row["posts"],
        by_status=by_status,
        published=row["published"],
        failed=failed,
        success_rate=ratio(row["published"], row["published"] + failed),
        time_to_publish=TimeToPublish(
            avg_seconds=row["ttp_avg"], p50_seconds=row["ttp_p50"], p95_seconds=row["ttp_p95"]
        ),
        engagement=EngagementTotals(
            posts_measured=row["measured"],
            **{f: row[f] for f in METRIC_NAMES},
            webhook_comments=row["webhook_comments"],
            engagement_rate=ratio(interactions, views),
        ),
    )

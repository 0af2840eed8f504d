"""Pure decisions of the distributor: who gets a job, with what words."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from schemas.jobs import JobPosting
from schemas.platforms import Platform
from schemas.publish import PostContent, PublishCommand, make_post_key
from services.distributor.content import DEFAULT_PROFILE, render
from services.distributor.media import has_media
from services.distributor.models import Connection, ContentWarning, TenantProfile


@dataclass(frozen=True, slots=True)
class Skip:
    """A connection that will not get this job, and why (reported, never silent)."""

    connection: Connection
    reason: str


@dataclass(frozen=True, slots=True)
class Preview:
    """What one connection would get: the post and its warnings, or why it gets nothing."""

    connection: Connection
    content: PostContent | None  # None when skipped
    skip_reason: str | None
    apply_url: str | None  # the attributed apply URL (Facebook links to it)
    warnings: tuple[ContentWarning, ...] = ()


def skip_reason(job: JobPosting, connection: Connection, profile: TenantProfile) -> str | None:
    """Why `connection` cannot take `job`, or None when it can."""
    if connection.status != "active":
        return {
            "needs_reconnect": "connection needs reconnect",
            "disabled": "connection disabled",
            "removed": "connection removed",
        }.get(connection.status, f"connection is {connection.status}")
    settings = job.platform_settings.get(connection.platform)
    if settings is not None and not settings.enabled:
        return f"{connection.platform.value} disabled for this job"
    instagram = Platform.INSTAGRAM
    if connection.platform is instagram and not has_media(job, instagram, profile):
        return "Instagram needs an image; the job has none and the tenant has no default image"
    return None


def preview(
    job: JobPosting, profile: TenantProfile, connections: list[Connection]
) -> list[Preview]:
    """For every connection, in order: the formatted post with its warnings, or the skip
    reason. What `plan_posts` would publish, without deciding post keys."""
    previews: list[Preview] = []
    for connection in connections:
        reason = skip_reason(job, connection, profile)
        if reason is not None:
            previews.append(Preview(connection, None, reason, None))
            continue
        rendered = render(job, connection.platform, profile)
        previews.append(
            Preview(connection, rendered.content, None, rendered.apply_url, rendered.warnings)
        )
    return previews


def plan_posts(
    tenant_id: UUID,
    job: JobPosting,
    connections: list[Connection],
    profile: TenantProfile = DEFAULT_PROFILE,
) -> list[PublishCommand | Skip]:
    """One publish command per connection that can take the job, a `Skip` for the rest."""
    plan: list[PublishCommand | Skip] = []
    for item in preview(job, profile, connections):
        connection = item.connection
        if item.content is None:
            plan.append(Skip(connection, item.skip_reason or "not publishable"))
            continue
        plan.append(
            PublishCommand(
                post_key=make_post_key(
                    tenant_id, job.job_id, connection.connection_id, job.revision
                ),
                platform=connection.platform,
                connection_id=connection.connection_id,
                account_id=connection.account_id,
                job_id=job.job_id,
                revision=job.revision,
                content=item.content,
            )
        )
    return plan

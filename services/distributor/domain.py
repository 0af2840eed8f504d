"""Pure decisions of the distributor: who gets a job, with what words."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from uuid import UUID

from schemas.jobs import JobPosting, Pay
from schemas.platforms import Platform
from schemas.publish import MediaItem, MediaKind, PostContent, PublishCommand, make_post_key
from services.distributor import captions
from services.distributor.repo import Connection


@dataclass(frozen=True, slots=True)
class Skip:
    """A connection that will not get this job, and why (reported, never silent)."""

    connection: Connection
    reason: str


def plan_posts(
    tenant_id: UUID, job: JobPosting, connections: list[Connection]
) -> list[PublishCommand | Skip]:
    """One publish command per connection that can take the job, a `Skip` for the rest."""
    plan: list[PublishCommand | Skip] = []
    for connection in connections:
        settings = job.platform_settings.get(connection.platform)
        if settings is not None and not settings.enabled:
            plan.append(Skip(connection, f"{connection.platform.value} disabled for this job"))
            continue
        if connection.platform is Platform.INSTAGRAM and job.image_url is None:
            plan.append(Skip(connection, "Instagram needs an image and the job has none"))
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
                content=format_content(job, connection.platform),
            )
        )
    return plan


def format_content(job: JobPosting, platform: Platform) -> PostContent:
    """The post for one platform: Facebook carries the link, Instagram says where to apply."""
    settings = job.platform_settings.get(platform)
    media = [MediaItem(kind=MediaKind.IMAGE, url=job.image_url)] if job.image_url else []
    headline = [
        f"{job.title} at {job.company}",
        f"📍 {job.location}",
        *([f"💰 {format_pay(job.pay)}"] if job.pay else []),
    ]
    body = settings.caption if settings and settings.caption else job.description
    hashtags = [*job.tags, *(settings.extra_hashtags if settings else [])]
    apply_url = str(job.apply_url)
    if platform is Platform.FACEBOOK:
        text = captions.facebook_message(
            headline=headline, body=body, apply_url=apply_url, hashtags=hashtags
        )
        return PostContent(text=text, link=job.apply_url, media=media)
    text = captions.instagram_caption(
        headline=headline,
        body=body,
        apply_line=captions.instagram_apply_line(apply_url),
        hashtags=hashtags,
    )
    return PostContent(text=text, media=media)


def format_pay(pay: Pay) -> str:
    """`IDR 150,000–200,000 / day`: amounts grouped, trailing zero cents dropped."""

    def amount(value: Decimal) -> str:
        return f"{value:,.0f}" if value == value.to_integral() else f"{value:,.2f}"

    span = amount(pay.min_amount)
    if pay.max_amount is not None and pay.max_amount != pay.min_amount:
        span += f"–{amount(pay.max_amount)}"
    return f"{pay.currency} {span} / {pay.period.value}"

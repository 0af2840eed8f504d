"""Engagement snapshots of published posts (topic `engagement.events`, keyed by post key)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from schemas.bounds import MAX_BIGINT, MAX_INT, Text
from schemas.envelope import ContractModel, Envelope, UtcDatetime
from schemas.jobs import JobId
from schemas.platforms import Platform
from schemas.publish import PostKey

Count = Annotated[int | None, Field(ge=0, le=MAX_BIGINT)]


class EngagementMetrics(ContractModel):
    """Counts in jobcast's names; null when the platform does not report the metric.

    Facebook: `views` is `post_total_media_view_unique`, `reactions` the sum of
    `post_reactions_by_type_total`, `clicks` is `post_clicks`; comments and shares come
    from the post's own fields; `total_interactions` = reactions + comments + shares.
    Instagram: Meta's `views`, `reach`, `likes`, `comments`, `shares`, `saved`,
    `total_interactions` as they are.
    Threads: Meta's `views`, `likes`, `reposts`, `quotes` as they are, `comments` is its
    `replies`; `total_interactions` = likes + replies + reposts + quotes.
    """

    views: Count = None
    reach: Count = None
    reactions: Count = None
    likes: Count = None
    comments: Count = None
    shares: Count = None
    clicks: Count = None
    saved: Count = None
    total_interactions: Count = None
    reposts: Count = None  # Threads
    quotes: Count = None  # Threads


class EngagementSnapshot(ContractModel):
    """A post's engagement as the platform reported it at one checkpoint after posting."""

    post_key: PostKey
    platform: Platform
    connection_id: UUID
    job_id: JobId
    platform_post_id: Annotated[Text, Field(min_length=1, max_length=128)]
    posted_at: UtcDatetime
    checkpoint_seconds: Annotated[
        int, Field(ge=0, le=MAX_INT, description="Seconds after posting this checkpoint was due")
    ]
    collected_at: UtcDatetime
    metrics: EngagementMetrics
    raw: dict[Annotated[Text, Field(max_length=100)], Annotated[int, Field(le=MAX_BIGINT)]] = Field(
        default_factory=dict, description="The values under Meta's own metric names"
    )


class EngagementCollected(Envelope):
    event_type: Literal["engagement.collected"] = "engagement.collected"
    payload: EngagementSnapshot

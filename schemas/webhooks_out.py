"""What jobcast POSTs to a tenant's registered webhook URL (outbound lifecycle webhooks).

Each request carries one `OutboundWebhook` as its JSON body and these headers:

- `X-Jobcast-Event`: the type (`post.scheduled`, `post.posted`, `post.failed`,
  `post.unconfirmed`, `engagement.updated`, `connection.expiring`, `connection.expired`);
- `X-Jobcast-Delivery`: the delivery id (= body `id`; a redelivery repeats it, so a
  receiver can deduplicate on it);
- `X-Jobcast-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`
  with the tenant's webhook secret. Verify it over the raw bytes, in constant time, and
  reject old timestamps (replays).

Any 2xx answer is success; anything else (or no answer within the timeout) is retried with
backoff, and after the last try the delivery is dead until replayed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from schemas.engagement import EngagementMetrics
from schemas.envelope import ContractModel, TenantId, UtcDatetime
from schemas.platforms import Platform

SIGNATURE_HEADER = "X-Jobcast-Signature"
EVENT_HEADER = "X-Jobcast-Event"
DELIVERY_HEADER = "X-Jobcast-Delivery"


class WebhookType(StrEnum):
    POST_SCHEDULED = "post.scheduled"
    POST_POSTED = "post.posted"
    POST_FAILED = "post.failed"
    POST_UNCONFIRMED = "post.unconfirmed"
    ENGAGEMENT_UPDATED = "engagement.updated"
    CONNECTION_EXPIRING = "connection.expiring"
    CONNECTION_EXPIRED = "connection.expired"


class PostLifecycle(ContractModel):
    """A post reached a status (the read model's view at that moment)."""

    kind: Literal["post"] = "post"
    post_key: str
    job_id: str
    platform: Platform
    connection_id: UUID
    status: str
    previous_status: str | None
    attempt: int
    platform_post_id: str | None = None
    permalink: str | None = None
    error_class: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    next_attempt_at: datetime | None = Field(
        default=None, description="post.scheduled: when it goes out; otherwise the next try"
    )
    occurred_at: datetime


class EngagementUpdate(ContractModel):
    """A post's latest engagement snapshot changed."""

    kind: Literal["engagement"] = "engagement"
    post_key: str
    job_id: str
    platform: Platform
    platform_post_id: str
    checkpoint_seconds: int
    collected_at: datetime
    metrics: EngagementMetrics


class ConnectionLifecycle(ContractModel):
    """A connected account's token expires soon (refresh failed or impossible: reconnect it)
    or has expired (nothing more is posted to it until it is reconnected)."""

    kind: Literal["connection"] = "connection"
    connection_id: UUID
    platform: Platform
    account_id: str
    expires_at: datetime
    occurred_at: datetime


class OutboundWebhook(ContractModel):
    id: UUID
    type: WebhookType
    created_at: UtcDatetime
    tenant_id: TenantId
    data: Annotated[
        PostLifecycle | EngagementUpdate | ConnectionLifecycle, Field(discriminator="kind")
    ]

"""Changes Meta reports by webhook (topic `platform.webhooks`, keyed by the entry id)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field

from schemas.bounds import MAX_BIGINT, Text
from schemas.envelope import SCHEMA_VERSION, ContractModel, UtcDatetime, utcnow

WebhookObject = Literal["page", "instagram"]


class PlatformWebhookChange(ContractModel):
    """One `entry[i].changes[j]` of a Meta delivery, with the entry it belongs to."""

    object: WebhookObject
    entry_id: Annotated[Text, Field(min_length=1, max_length=64)] = Field(
        description="The Page or Instagram account id the change is about."
    )
    entry_time: Annotated[int | None, Field(ge=0, le=MAX_BIGINT)] = Field(
        default=None, description="Meta's `entry.time` (Unix time)."
    )
    field: Annotated[Text, Field(min_length=1, max_length=100)] = Field(
        description="The subscribed field, e.g. `feed` or `comments`."
    )
    value: dict[str, Any]


class PlatformWebhookReceived(ContractModel):
    """A change Meta reported, as published on `platform.webhooks`.

    Not an `Envelope`: webhooks arrive before any tenant is known (the consumer maps
    `entry_id` to a connection, and so to a tenant).
    """

    event_id: UUID
    event_type: Literal["platform.webhook_received"] = "platform.webhook_received"
    schema_version: Annotated[int, Field(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    occurred_at: UtcDatetime = Field(default_factory=utcnow)
    payload: PlatformWebhookChange

"""The envelope every record on every jobcast topic travels in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID, uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from schemas.bounds import WINDOW_SCHEMA, check_instant

SCHEMA_VERSION = 1


UtcDatetime = Annotated[
    AwareDatetime, AfterValidator(check_instant), Field(json_schema_extra=WINDOW_SCHEMA)
]
"""A timezone-aware instant in the contract's window, normalised to UTC so every service
compares like with like."""

TenantId = Annotated[UUID, Field(description="The tenant that owns the record.")]


def utcnow() -> datetime:
    """The current instant in UTC (one place, so tests can reason about it)."""
    return datetime.now(UTC)


class ContractModel(BaseModel):
    """Base for every contract model: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Envelope(ContractModel):
    """Fields shared by every event; subclasses pin `event_type` and type `payload`.

    Correlation and causation ids travel in Kafka headers (see `schemas.headers`),
    not here, so the envelope stays the business fact alone.
    """

    event_id: UUID = Field(default_factory=uuid4)
    schema_version: Annotated[int, Field(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    occurred_at: UtcDatetime = Field(default_factory=utcnow)
    tenant_id: TenantId

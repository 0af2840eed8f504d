"""Status events of posts that have not reached a publisher (topic `publish.results`).

The read model shows a post as scheduled, awaiting approval, held, cancelled or skipped
from these; once a command is sent, the publisher reports everything that follows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from jobcast.kafka import OutgoingEvent
from jobcast.topics import PUBLISH_RESULTS
from schemas.platforms import Platform
from schemas.publish import (
    ErrorClass,
    PublishAction,
    PublishCompleted,
    PublishError,
    PublishResult,
    PublishStatus,
    make_post_key,
)
from services.distributor.domain import Skip


class PostIdentity(Protocol):
    """What a status event names: a command, or a post that never became one (a skip)."""

    @property
    def post_key(self) -> str: ...
    @property
    def action(self) -> PublishAction: ...
    @property
    def platform(self) -> Platform: ...
    @property
    def connection_id(self) -> UUID: ...
    @property
    def job_id(self) -> str: ...


@dataclass(frozen=True, slots=True)
class PostRef:
    post_key: str
    action: PublishAction
    platform: Platform
    connection_id: UUID
    job_id: str


def skipped_post(tenant_id: UUID, skip: Skip, job_id: str, revision: int) -> PostRef:
    """The post a skipped connection would have had, for its `skipped` status."""
    connection = skip.connection
    return PostRef(
        post_key=make_post_key(tenant_id, job_id, connection.connection_id, revision),
        action=PublishAction.PUBLISH,
        platform=connection.platform,
        connection_id=connection.connection_id,
        job_id=job_id,
    )


@dataclass(frozen=True, slots=True)
class StatusReport:
    tenant_id: UUID
    command: PostIdentity
    status: PublishStatus
    correlation_id: str
    reason: str = ""
    due_at: datetime | None = None


def status_result(report: StatusReport, now: datetime) -> PublishResult:
    """The result event for a post the distributor still holds (attempt 0: none yet)."""
    command = report.command
    error = None
    if report.status in (PublishStatus.SKIPPED, PublishStatus.CANCELLED):
        error = PublishError(error_class=ErrorClass.NOT_PUBLISHABLE, message=report.reason[:2000])
    return PublishResult(
        post_key=command.post_key,
        action=command.action,
        platform=command.platform,
        connection_id=command.connection_id,
        job_id=command.job_id,
        status=report.status,
        attempt=0,
        error=error,
        next_attempt_at=report.due_at if report.status is PublishStatus.SCHEDULED else None,
        completed_at=now,
    )


def status_events(reports: Sequence[StatusReport], now: datetime) -> list[OutgoingEvent]:
    """The `publish.results` records for `reports`, keyed by post key."""
    return [
        OutgoingEvent(
            PUBLISH_RESULTS,
            r.command.post_key,
            PublishCompleted(tenant_id=r.tenant_id, payload=status_result(r, now)),
            correlation_id=r.correlation_id,
            event_type="publish.completed",
        )
        for r in reports
    ]

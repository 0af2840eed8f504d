"""The distributor's subscriber: job events in, publish commands (or skips) out."""

from __future__ import annotations

import logging

import asyncpg
from faststream.kafka import KafkaBroker

from jobcast.kafka import RecordMeta, publish_event
from jobcast.topics import PUBLISH_RESULTS, publish_topic
from schemas.connections import ConnectionStatusChanged
from schemas.envelope import utcnow
from schemas.jobs import JobClosed, JobCreated, JobEvent, JobUpdated
from schemas.publish import (
    ErrorClass,
    PublishCompleted,
    PublishError,
    PublishRequested,
    PublishResult,
    PublishStatus,
    make_post_key,
)
from services.distributor.domain import Skip, plan_posts
from services.distributor.repo import active_connections, set_connection_status

log = logging.getLogger(__name__)


class JobEventHandler:
    """Decides what to publish for each job event."""

    def __init__(self, pool: asyncpg.Pool, broker: KafkaBroker) -> None:
        self._pool = pool
        self._broker = broker

    async def __call__(self, event: JobEvent, meta: RecordMeta) -> None:
        """Route one job event; replays produce the same post keys, so they are harmless."""
        if isinstance(event, JobCreated):
            await self._distribute(event, meta)
        elif isinstance(event, JobUpdated | JobClosed):
            # Edits and take-downs arrive with the job lifecycle work; say so, don't hide it.
            log.info(
                "job lifecycle event not acted on yet",
                extra={"event_type": event.event_type, "job_id": event.payload.job_id},
            )

    async def _distribute(self, event: JobCreated, meta: RecordMeta) -> None:
        connections = await active_connections(self._pool, event.tenant_id)
        correlation_id = meta.correlation_id or str(event.event_id)
        for item in plan_posts(event.tenant_id, event.payload, connections):
            if isinstance(item, Skip):
                await self._report_skip(event, item, correlation_id)
                continue
            await publish_event(
                self._broker,
                publish_topic(item.platform),
                PublishRequested(tenant_id=event.tenant_id, payload=item),
                key=str(item.connection_id),
                correlation_id=correlation_id,
                causation_id=str(event.event_id),
                event_type="publish.requested",
            )

    async def _report_skip(self, event: JobCreated, skip: Skip, correlation_id: str) -> None:
        job = event.payload
        result = PublishResult(
            post_key=make_post_key(
                event.tenant_id, job.job_id, skip.connection.connection_id, job.revision
            ),
            platform=skip.connection.platform,
            connection_id=skip.connection.connection_id,
            job_id=job.job_id,
            status=PublishStatus.SKIPPED,
            attempt=0,
            error=PublishError(error_class=ErrorClass.NOT_PUBLISHABLE, message=skip.reason),
            completed_at=utcnow(),
        )
        await publish_event(
            self._broker,
            PUBLISH_RESULTS,
            PublishCompleted(tenant_id=event.tenant_id, payload=result),
            key=result.post_key,
            correlation_id=correlation_id,
            causation_id=str(event.event_id),
            event_type="publish.completed",
        )


class ConnectionEventHandler:
    """Honours connection state reported by the publishers (e.g. a dead token)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def __call__(self, event: ConnectionStatusChanged, meta: RecordMeta) -> None:
        """Apply the new status; later jobs skip a connection that needs reconnecting."""
        change = event.payload
        found = await set_connection_status(
            self._pool, change.connection_id, event.tenant_id, change.status.value
        )
        log.warning(
            "connection status changed" if found else "status change for unknown connection",
            extra={"connection_id": str(change.connection_id), "status": change.status.value},
        )

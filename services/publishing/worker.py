"""The publish worker: claim the key, call the platform once, record, emit.

Order matters for exactly-once: the claim is taken before any platform call; the
outcome is stored before it is emitted; the offset is committed (by the consumer)
only after both. A redelivered command finds the claim and re-emits the stored
result; it never calls the platform again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import HttpUrl

from jobcast.crypto import TokenCipher, TokenDecryptError
from jobcast.kafka import RecordMeta, publish_event
from jobcast.topics import PUBLISH_RESULTS
from schemas.envelope import utcnow
from schemas.publish import (
    ErrorClass,
    PublishCommand,
    PublishCompleted,
    PublishError,
    PublishRequested,
    PublishResult,
    PublishStatus,
)
from services.publishing.errors import classify_graph_error
from services.publishing.graph import AmbiguousOutcomeError, GraphClient, GraphError
from services.publishing.repo import load_credentials, record_outcome, try_claim

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Posted:
    platform_post_id: str
    permalink: HttpUrl | None


class Poster(Protocol):
    """A platform's way of making one post (the only platform-specific part)."""

    async def publish(self, graph: GraphClient, command: PublishCommand, token: str) -> Posted:
        """Publish the content; raise GraphError or AmbiguousOutcomeError on failure."""
        ...


class PublishWorker:
    """Handles `publish.<platform>` records for one platform."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        graph: GraphClient,
        cipher: TokenCipher,
        poster: Poster,
    ) -> None:
        self._pool = pool
        self._broker = broker
        self._graph = graph
        self._cipher = cipher
        self._poster = poster

    async def __call__(self, event: PublishRequested, meta: RecordMeta) -> None:
        """Publish one command, at most once per post key."""
        command = event.payload
        existing = await try_claim(self._pool, event.tenant_id, command)
        if existing is not None and existing.result is not None:
            await self._emit(existing.result, meta, event)  # replay or redelivery
            return
        if existing is not None:
            # Claimed earlier but no outcome stored: the earlier attempt died mid-call
            # and the post may exist. Never re-post blindly; report it unconfirmed.
            result = self._result(
                command,
                PublishStatus.UNCONFIRMED,
                error=PublishError(
                    error_class=ErrorClass.TRANSIENT,
                    message="an earlier attempt ended without recording its outcome",
                ),
            )
        else:
            result = await self._attempt(event)
        completed = PublishCompleted(tenant_id=event.tenant_id, payload=result)
        await record_outcome(self._pool, completed)
        await self._emit(completed, meta, event)

    async def _attempt(self, event: PublishRequested) -> PublishResult:
        command = event.payload
        credentials = await load_credentials(self._pool, event.tenant_id, command.connection_id)
        if credentials is None or credentials.status != "active":
            return self._failed(command, ErrorClass.AUTH, "connection missing or needs reconnect")
        try:
            token = self._cipher.decrypt(credentials.token_ciphertext)
        except TokenDecryptError as exc:
            return self._failed(command, ErrorClass.AUTH, str(exc))
        try:
            posted = await self._poster.publish(self._graph, command, token)
        except GraphError as exc:
            verdict = classify_graph_error(exc.code, exc.subcode)
            status = PublishStatus.UNCONFIRMED if verdict.ambiguous else PublishStatus.FAILED
            return self._result(
                command,
                status,
                error=PublishError(
                    error_class=verdict.error_class,
                    code=exc.code,
                    subcode=exc.subcode,
                    message=exc.message[:2000],
                ),
            )
        except AmbiguousOutcomeError as exc:
            return self._result(
                command,
                PublishStatus.UNCONFIRMED,
                error=PublishError(error_class=ErrorClass.TRANSIENT, message=str(exc)),
            )
        return self._result(
            command,
            PublishStatus.POSTED,
            platform_post_id=posted.platform_post_id,
            permalink=posted.permalink,
        )

    def _failed(
        self, command: PublishCommand, error_class: ErrorClass, message: str
    ) -> PublishResult:
        return self._result(
            command,
            PublishStatus.FAILED,
            error=PublishError(error_class=error_class, message=message),
        )

    @staticmethod
    def _result(
        command: PublishCommand,
        status: PublishStatus,
        *,
        error: PublishError | None = None,
        platform_post_id: str | None = None,
        permalink: HttpUrl | None = None,
    ) -> PublishResult:
        return PublishResult(
            post_key=command.post_key,
            action=command.action,
            platform=command.platform,
            connection_id=command.connection_id,
            job_id=command.job_id,
            status=status,
            platform_post_id=platform_post_id,
            permalink=permalink,
            error=error,
            completed_at=utcnow(),
        )

    async def _emit(
        self, completed: PublishCompleted, meta: RecordMeta, cause: PublishRequested
    ) -> None:
        log.info(
            "publish outcome",
            extra={
                "post_key": completed.payload.post_key,
                "status": completed.payload.status.value,
                "job_id": completed.payload.job_id,
            },
        )
        await publish_event(
            self._broker,
            PUBLISH_RESULTS,
            completed,
            key=completed.payload.post_key,
            correlation_id=meta.correlation_id,
            causation_id=str(cause.event_id),
            event_type=completed.event_type,
        )

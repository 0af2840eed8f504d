"""The raw Kafka front door: upstream systems produce to `jobs.incoming` directly.

Each record is one job event as JSON, with the tenant named in it (Kafka ACLs, not
API keys, decide who may produce). Valid events are normalised into `jobs.events`
exactly as the HTTP API would; anything else goes to `jobs.incoming.dlq` with the
reason and the original bytes, and the consumer carries on.
"""

from __future__ import annotations

import json
import time
from typing import Any
from uuid import UUID

import asyncpg
from faststream.kafka import KafkaBroker

from jobcast import metrics
from jobcast.kafka import dead_letter
from jobcast.tenancy import tenant_exists
from schemas.bounds import MAX_EVENT_BYTES
from services.ingest.accepting import JobEventAcceptor
from services.ingest.domain import ForeignTenantError, SubmissionError, encoded, to_job_event

GROUP_ID = "ingest-incoming"
_TENANT_CACHE_SECONDS = 60.0


class IncomingRelay:
    """Validates raw records and relays the good ones; every record ends somewhere."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        acceptor: JobEventAcceptor,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self._max_event_bytes = max_event_bytes
        self._pool = pool
        self._broker = broker
        self._acceptor = acceptor
        self._tenants: dict[UUID, float] = {}  # known tenant → until when we trust that

    async def __call__(self, raw: Any) -> None:
        """Handle one record from `jobs.incoming` (an aiokafka-like record)."""
        try:
            body = json.loads(raw.value or b"")
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # nested too deep
            await self._reject(raw, f"not JSON: {exc}", "not_json")
            return
        tenant_id = _tenant_of(body)
        if tenant_id is None:
            await self._reject(raw, "tenant_id: a UUID naming the tenant is required", "invalid")
            return
        if not await self._tenant_exists(tenant_id):
            await self._reject(raw, f"tenant_id: no tenant {tenant_id}", "unknown_tenant")
            return
        try:
            event = to_job_event(body, tenant_id)
        except (SubmissionError, ForeignTenantError) as exc:
            await self._reject(raw, _reason(exc), "invalid")
            return
        try:
            ready = encoded(event, self._max_event_bytes)
        except SubmissionError as exc:  # valid, but larger than jobs.events takes
            await self._reject(raw, _reason(exc), "too_large")
            return
        # Shared with the HTTP API: concurrent records share each round trip.
        if not await self._acceptor.accept([ready]):
            metrics.RECORDS_CONSUMED.labels(topic=raw.topic, outcome="duplicate").inc()
            return
        metrics.RECORDS_CONSUMED.labels(topic=raw.topic, outcome="handled").inc()

    async def _tenant_exists(self, tenant_id: UUID) -> bool:
        if self._tenants.get(tenant_id, 0.0) > time.monotonic():
            return True
        found = await tenant_exists(self._pool, tenant_id)
        if found:
            self._tenants[tenant_id] = time.monotonic() + _TENANT_CACHE_SECONDS
        return found

    async def _reject(self, raw: Any, reason: str, kind: str) -> None:
        await dead_letter(self._broker, raw, group_id=GROUP_ID, reason=reason, kind=kind)
        metrics.RECORDS_CONSUMED.labels(topic=raw.topic, outcome="dead_lettered").inc()


def _reason(exc: SubmissionError | ForeignTenantError) -> str:
    errors = getattr(exc, "errors", [{"field": "tenant_id", "msg": str(exc)}])
    return "; ".join(f"{e['field']}: {e['msg']}" for e in errors)


def _tenant_of(body: object) -> UUID | None:
    if not isinstance(body, dict):
        return None
    try:
        return UUID(str(body.get("tenant_id")))
    except ValueError:
        return None

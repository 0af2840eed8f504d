"""Outbound lifecycle webhooks: the outbox and the dispatcher (registration: `repo`).

A delivery row is written in the transaction of the change it announces (see `effects`),
with an id derived from what caused it, so replays and the rebuild's tail never enqueue
one twice. The dispatcher leases due rows (SKIP LOCKED), signs each body with the
tenant's secret (`schemas.webhooks_out`), POSTs it, and on anything but a 2xx retries
with backoff; after the last try the row is `dead` until `jobcast webhooks replay`.
It sends through `jobcast.public_http`, which connects only to public addresses it
checked: a URL that is, or resolves to, anything else is dead at once, with the reason.
Secrets are stored encrypted (JOBCAST_SECRET_KEY) and appear in no log, event or error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from uuid import UUID, uuid5

import asyncpg
from prometheus_client import Counter

from jobcast.crypto import TokenCipher, TokenDecryptError
from jobcast.due_work import work_through_due
from jobcast.http_client import HttpClient, NoAnswerError
from jobcast.public_http import DestinationRefusedError
from schemas.connections import ConnectionExpired, ConnectionExpiring
from schemas.engagement import EngagementMetrics
from schemas.envelope import utcnow
from schemas.platforms import Platform
from schemas.webhooks_out import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    ConnectionLifecycle,
    EngagementUpdate,
    OutboundWebhook,
    PostLifecycle,
    WebhookType,
)
from services.metrics.readmodel.domain import METRIC_NAMES
from services.metrics.readmodel.models import StatusChange
from services.metrics.retries import next_try_in
from services.metrics.webhooks.domain import lifecycle_webhook, sign_webhook

if TYPE_CHECKING:
    from jobcast.db import Connection

log = logging.getLogger(__name__)

DELIVERIES = Counter(
    "jobcast_outbound_webhooks_total",
    "Outbound webhook delivery attempts by outcome (delivered, retried, dead)",
    ["outcome"],
)
# Delivery ids are derived from what caused them: the same cause, the same delivery.
_NAMESPACE = UUID("5b0c6c1e-9a43-4b43-9d36-0b7b3c2f6a11")

_ENQUEUE = """
INSERT INTO metrics.webhook_deliveries (delivery_id, tenant_id, event_type, post_key, body)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[])
ON CONFLICT (delivery_id) DO NOTHING
"""


async def _tenants_with_endpoint(conn: Connection, tenants: set[UUID]) -> set[UUID]:
    if not tenants:
        return set()
    rows = await conn.fetch(
        "SELECT tenant_id FROM metrics.webhook_endpoints WHERE tenant_id = ANY($1::uuid[])",
        list(tenants),
    )
    return {r["tenant_id"] for r in rows}


async def _enqueue(
    conn: Connection, hooks: list[OutboundWebhook], post_keys: Sequence[str | None]
) -> None:
    if hooks:
        await conn.execute(
            _ENQUEUE,
            [h.id for h in hooks],
            [h.tenant_id for h in hooks],
            [h.type.value for h in hooks],
            post_keys,
            [h.model_dump_json() for h in hooks],
        )


def _post_key(hook: OutboundWebhook) -> str | None:
    return None if isinstance(hook.data, ConnectionLifecycle) else hook.data.post_key


async def enqueue_lifecycle(conn: Connection, changes: Sequence[StatusChange]) -> None:
    """Outbox rows for the transitions tenants subscribe to (ChangeEffect)."""
    wanted = [
        (change, kind)
        for change in changes
        if (kind := lifecycle_webhook(change.status, change.previous_status, change.action))
    ]
    tenants = await _tenants_with_endpoint(conn, {c.tenant_id for c, _ in wanted})
    hooks = [
        OutboundWebhook(
            id=uuid5(_NAMESPACE, f"{kind}:{change.post_key}:{change.status_event_id}"),
            type=WebhookType(kind),
            created_at=change.at,
            tenant_id=change.tenant_id,
            data=PostLifecycle(
                post_key=change.post_key,
                job_id=change.job_id,
                platform=Platform(change.platform),
                connection_id=change.connection_id,
                status=change.status,
                previous_status=change.previous_status,
                attempt=change.attempt,
                platform_post_id=change.platform_post_id,
                permalink=change.permalink,
                error_class=change.error_class,
                error_code=change.error_code,
                error_message=change.error_message,
                next_attempt_at=change.next_attempt_at,
                occurred_at=change.at,
            ),
        )
        for change, kind in wanted
        if change.tenant_id in tenants
    ]
    await _enqueue(conn, hooks, [_post_key(h) for h in hooks])


async def enqueue_engagement(conn: Connection, moved: Sequence[dict[str, Any]]) -> None:
    """Outbox rows for posts whose latest engagement snapshot changed (EngagementEffect)."""
    tenants = await _tenants_with_endpoint(conn, {row["tenant_id"] for row in moved})
    hooks = [
        OutboundWebhook(
            id=uuid5(_NAMESPACE, f"engagement.updated:{row['snapshot_event_id']}"),
            type=WebhookType.ENGAGEMENT_UPDATED,
            created_at=row["collected_at"],
            tenant_id=row["tenant_id"],
            data=EngagementUpdate(
                post_key=row["post_key"],
                job_id=row["job_id"],
                platform=Platform(row["platform"]),
                platform_post_id=row["platform_post_id"],
                checkpoint_seconds=row["checkpoint_seconds"],
                collected_at=row["collected_at"],
                metrics=EngagementMetrics(**{m: row[m] for m in METRIC_NAMES}),
            ),
        )
        for row in moved
        if row["tenant_id"] in tenants
    ]
    await _enqueue(conn, hooks, [_post_key(h) for h in hooks])


async def enqueue_connection_webhooks(
    pool: asyncpg.Pool, events: Sequence[ConnectionExpiring | ConnectionExpired]
) -> None:
    """Outbox rows for tokens expiring or expired, for tenants that registered a URL.

    The delivery id is the event's own, so a redelivered event enqueues nothing new.
    """
    async with pool.acquire() as conn:
        tenants = await _tenants_with_endpoint(conn, {e.tenant_id for e in events})
        hooks = [
            OutboundWebhook(
                id=uuid5(_NAMESPACE, f"{event.event_type}:{event.event_id}"),
                type=WebhookType(event.event_type),
                created_at=event.occurred_at,
                tenant_id=event.tenant_id,
                data=ConnectionLifecycle(
                    connection_id=event.payload.connection_id,
                    platform=event.payload.platform,
                    account_id=event.payload.account_id,
                    expires_at=event.payload.expires_at,
                    occurred_at=event.occurred_at,
                ),
            )
            for event in events
            if event.tenant_id in tenants
        ]
        await _enqueue(conn, hooks, [None] * len(hooks))


# --------------------------------------------------------------------------- dispatcher


@dataclass(frozen=True, slots=True)
class _Due:
    delivery_id: UUID
    tenant_id: UUID
    event_type: str
    body: str
    attempts: int
    url: str
    secret_ciphertext: bytes


class WebhookDispatcher:
    """Sends due deliveries, signed; retries by tier; dead-letters after the last."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        cipher: TokenCipher,
        http: HttpClient,
        retry_delays: Sequence[float] = (10.0, 60.0, 300.0, 1800.0, 7200.0),
        timeout_seconds: float = 10.0,
        batch: int = 100,
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._http = http
        self._retry_delays = tuple(retry_delays)
        self._timeout = timeout_seconds
        self._batch = batch

    async def run(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        await work_through_due(
            stop, self._take_due, self.deliver, poll_seconds=poll_seconds, log=log, what="webhook"
        )

    async def _take_due(self) -> list[_Due]:
        # The lease (a request's timeout, twice) keeps a row with this instance meanwhile.
        rows = await self._pool.fetch(
            """WITH due AS (
                   SELECT delivery_id FROM metrics.webhook_deliveries
                   WHERE state = 'pending' AND next_attempt_at <= now()
                   ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
               )
               UPDATE metrics.webhook_deliveries d
               SET next_attempt_at = now() + make_interval(secs => $2)
               FROM due, metrics.webhook_endpoints e
               WHERE d.delivery_id = due.delivery_id AND e.tenant_id = d.tenant_id
               RETURNING d.delivery_id, d.tenant_id, d.event_type, d.body, d.attempts,
                         e.url, e.secret_ciphertext""",
            self._batch,
            self._timeout * 2,
        )
        return [
            _Due(**{**dict(r), "secret_ciphertext": bytes(r["secret_ciphertext"])}) for r in rows
        ]

    async def deliver(self, due: _Due) -> None:
        """One try; an unexpected error leaves the row leased (due again after the lease)."""
        try:
            await self._deliver(due)
        except Exception:
            log.exception("webhook delivery failed", extra={"delivery_id": str(due.delivery_id)})

    async def _deliver(self, due: _Due) -> None:
        try:
            secret = self._cipher.decrypt(due.secret_ciphertext)
        except TokenDecryptError as exc:
            await self._failed(due, None, str(exc), final=True)
            return
        body = due.body.encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "jobcast-webhooks/1",
            EVENT_HEADER: due.event_type,
            DELIVERY_HEADER: str(due.delivery_id),
            SIGNATURE_HEADER: sign_webhook(secret, int(time.time()), body),
        }
        try:
            answer = await self._http.exchange(
                "POST", due.url, data=body, headers=headers, timeout_seconds=self._timeout
            )
        except DestinationRefusedError as exc:
            # Not a public address (checked at connect time, whatever was registered):
            # final, since trying again would be refused again. Replay sends it anew.
            await self._failed(due, None, str(exc), final=True)
            return
        except NoAnswerError as exc:
            await self._failed(due, None, f"no answer: {exc.kind}")
            return
        if 200 <= answer.status < 300:
            await self._pool.execute(
                """UPDATE metrics.webhook_deliveries SET state = 'delivered',
                       attempts = attempts + 1, last_status = $2, last_error = NULL,
                       delivered_at = now()
                   WHERE delivery_id = $1""",
                due.delivery_id,
                answer.status,
            )
            DELIVERIES.labels(outcome="delivered").inc()
            self._log(due, "delivered", answer.status)
            return
        await self._failed(due, answer.status, f"answered HTTP {answer.status}")

    async def _failed(
        self, due: _Due, status: int | None, reason: str, *, final: bool = False
    ) -> None:
        attempts = due.attempts + 1
        delay = None if final else next_try_in(attempts, self._retry_delays)
        outcome = "dead" if delay is None else "retried"
        await self._pool.execute(
            """UPDATE metrics.webhook_deliveries
               SET attempts = $2, last_status = $3, last_error = $4,
                   state = CASE WHEN $5::float8 IS NULL THEN 'dead' ELSE 'pending' END,
                   next_attempt_at = now() + make_interval(secs => COALESCE($5::float8, 0))
               WHERE delivery_id = $1""",
            due.delivery_id,
            attempts,
            status,
            reason[:500],
            delay,
        )
        DELIVERIES.labels(outcome=outcome).inc()
        self._log(due, outcome, status)

    @staticmethod
    def _log(due: _Due, outcome: str, status: int | None) -> None:
        # The host only: a URL's path or query may hold a tenant's token.
        log.info(
            "webhook delivery",
            extra={
                "tenant_id": str(due.tenant_id),
                "delivery_id": str(due.delivery_id),
                "event_type": due.event_type,
                "host": urlsplit(due.url).hostname,
                "outcome": outcome,
                "http_status": status,
                "at": utcnow().isoformat(),
            },
        )

"""A tenant's webhook endpoint (schema `metrics`): registration, its deliveries by state,
removal, and sending dead deliveries again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from jobcast.crypto import TokenCipher
from services.metrics.webhooks.domain import new_webhook_secret


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    created_at: datetime
    updated_at: datetime
    pending: int
    delivered: int
    dead: int


async def register_endpoint(
    pool: asyncpg.Pool, cipher: TokenCipher, tenant_id: UUID, url: str
) -> str:
    """Set the tenant's URL with a fresh secret; returns the secret (the only time it is
    shown). Registering again replaces both: deliveries from then on use the new secret."""
    secret = new_webhook_secret()
    await pool.execute(
        """INSERT INTO metrics.webhook_endpoints (tenant_id, url, secret_ciphertext)
           VALUES ($1, $2, $3)
           ON CONFLICT (tenant_id) DO UPDATE SET url = EXCLUDED.url,
               secret_ciphertext = EXCLUDED.secret_ciphertext, updated_at = now()""",
        tenant_id,
        url,
        cipher.encrypt(secret),
    )
    return secret


async def endpoint_of(pool: asyncpg.Pool, tenant_id: UUID) -> Endpoint | None:
    """The tenant's URL and its deliveries by state (never the secret)."""
    row = await pool.fetchrow(
        """SELECT e.url, e.created_at, e.updated_at,
                  count(*) FILTER (WHERE d.state = 'pending')::int AS pending,
                  count(*) FILTER (WHERE d.state = 'delivered')::int AS delivered,
                  count(*) FILTER (WHERE d.state = 'dead')::int AS dead
           FROM metrics.webhook_endpoints e
           LEFT JOIN metrics.webhook_deliveries d USING (tenant_id)
           WHERE e.tenant_id = $1 GROUP BY e.url, e.created_at, e.updated_at""",
        tenant_id,
    )
    return Endpoint(**dict(row)) if row else None


async def remove_endpoint(pool: asyncpg.Pool, tenant_id: UUID) -> bool:
    """Stop sending: the endpoint goes, and what was still pending is marked dead."""
    async with pool.acquire() as conn, conn.transaction():
        removed = await conn.fetchval(
            "DELETE FROM metrics.webhook_endpoints WHERE tenant_id = $1 RETURNING true",
            tenant_id,
        )
        await conn.execute(
            """UPDATE metrics.webhook_deliveries SET state = 'dead',
                   last_error = 'endpoint removed'
               WHERE tenant_id = $1 AND state = 'pending'""",
            tenant_id,
        )
    return bool(removed)


async def replay_dead(pool: asyncpg.Pool, tenant_id: UUID, delivery_id: UUID | None = None) -> int:
    """Send dead deliveries again (all of the tenant's, or one), as new tries from zero."""
    result = await pool.execute(
        """UPDATE metrics.webhook_deliveries
           SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
           WHERE tenant_id = $1 AND state = 'dead'
             AND ($2::uuid IS NULL OR delivery_id = $2)
             AND EXISTS (SELECT 1 FROM metrics.webhook_endpoints e WHERE e.tenant_id = $1)""",
        tenant_id,
        delivery_id,
    )
    return int(result.split()[-1])

"""Ingest's SQL: accepted event ids (idempotency at the front door), the operator audit,
the digests of accepted Meta webhook deliveries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from jobcast.db import migrate, migrations_of
from schemas.jobs import JobEvent


async def migrate_ingest(pool: asyncpg.Pool) -> None:
    """Create or update ingest's tables."""
    await migrate(pool, "ingest", migrations_of("services.ingest"))


async def accepted_among(
    pool: asyncpg.Pool, keys: Sequence[tuple[UUID, UUID]]
) -> set[tuple[UUID, UUID]]:
    """Which of these (tenant id, event id) pairs were accepted before, in one statement
    for any number of tenants (a flush mixes the requests of many)."""
    if not keys:
        return set()
    rows = await pool.fetch(
        """SELECT a.tenant_id, a.event_id FROM ingest.accepted_events a
           JOIN unnest($1::uuid[], $2::uuid[]) AS k(tenant_id, event_id)
             USING (tenant_id, event_id)""",
        [t for t, _ in keys],
        [e for _, e in keys],
    )
    return {(r["tenant_id"], r["event_id"]) for r in rows}


async def remember_accepted_events(pool: asyncpg.Pool, events: Sequence[JobEvent]) -> None:
    """Record events that reached Kafka (any tenants), so a resent one is a duplicate."""
    if not events:
        return
    await pool.execute(
        """INSERT INTO ingest.accepted_events (tenant_id, event_id, job_id)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[])
           ON CONFLICT DO NOTHING""",
        [e.tenant_id for e in events],
        [e.event_id for e in events],
        [e.payload.job_id for e in events],
    )


async def record_operator_command(
    pool: asyncpg.Pool,
    *,
    event_id: UUID,
    tenant_id: UUID,
    actor: str,
    action: str,
    target: str,
    reason: str,
    issued_at: datetime,
) -> None:
    """Write an operator command's audit row (before it is published)."""
    await pool.execute(
        """INSERT INTO ingest.operator_audit
               (event_id, tenant_id, actor, action, target, reason, issued_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        event_id,
        tenant_id,
        actor,
        action,
        target,
        reason,
        issued_at,
    )


async def mark_operator_command_published(pool: asyncpg.Pool, event_id: UUID) -> None:
    """Stamp an audit row once its command is in Kafka."""
    await pool.execute(
        "UPDATE ingest.operator_audit SET published_at = now() WHERE event_id = $1", event_id
    )


_AUDIT_COLUMNS = "event_id, actor, action, target, reason, issued_at, published_at"


async def operator_audit_page(
    pool: asyncpg.Pool, tenant_id: UUID, limit: int, before: tuple[datetime, UUID] | None
) -> list[asyncpg.Record]:
    """A tenant's audit rows, newest first, strictly after the `before` position."""
    if before is None:
        return await pool.fetch(
            f"""SELECT {_AUDIT_COLUMNS} FROM ingest.operator_audit WHERE tenant_id = $1
                ORDER BY issued_at DESC, event_id DESC LIMIT $2""",
            tenant_id,
            limit,
        )
    return await pool.fetch(
        f"""SELECT {_AUDIT_COLUMNS} FROM ingest.operator_audit
            WHERE tenant_id = $1 AND (issued_at, event_id) < ($3, $4)
            ORDER BY issued_at DESC, event_id DESC LIMIT $2""",
        tenant_id,
        limit,
        *before,
    )


# --- Meta webhook deliveries (the `seen`/`remember` hooks of `webhooks.webhook_router`) ---


async def delivery_seen(pool: asyncpg.Pool, digest: bytes) -> bool:
    """Whether a delivery with this body digest was accepted before (the `seen` hook)."""
    found = await pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM ingest.webhook_deliveries WHERE digest = $1)", digest
    )
    return bool(found)


async def remember_delivery(pool: asyncpg.Pool, digest: bytes) -> bool:
    """Record an accepted delivery (the `remember` hook); True if it was already recorded."""
    inserted = await pool.fetchval(
        "INSERT INTO ingest.webhook_deliveries (digest) VALUES ($1)"
        " ON CONFLICT DO NOTHING RETURNING true",
        digest,
    )
    return inserted is None


async def prune_deliveries(pool: asyncpg.Pool, older_than_hours: float = 72.0) -> int:
    """Forget digests older than Meta's 36 h retry window (with margin); returns the count."""
    status = await pool.execute(
        "DELETE FROM ingest.webhook_deliveries"
        " WHERE received_at < now() - make_interval(secs => $1)",
        older_than_hours * 3600.0,
    )
    return int(status.split()[-1])  # "DELETE <n>"

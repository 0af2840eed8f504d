"""Ingest's SQL: accepted event ids (idempotency at the front door), the operator audit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from jobcast.db import migrate, migrations_of


async def migrate_ingest(pool: asyncpg.Pool) -> None:
    """Create or update ingest's tables."""
    await migrate(pool, "ingest", migrations_of("services.ingest"))


async def already_accepted(
    pool: asyncpg.Pool, tenant_id: UUID, event_ids: Sequence[UUID]
) -> set[UUID]:
    """Which of these event ids the tenant sent before."""
    rows = await pool.fetch(
        "SELECT event_id FROM ingest.accepted_events"
        " WHERE tenant_id = $1 AND event_id = ANY($2::uuid[])",
        tenant_id,
        list(event_ids),
    )
    return {r["event_id"] for r in rows}


async def remember_accepted(
    pool: asyncpg.Pool, tenant_id: UUID, accepted: Sequence[tuple[UUID, str]]
) -> None:
    """Record (event id, job id) pairs that reached Kafka."""
    if not accepted:
        return
    await pool.execute(
        """INSERT INTO ingest.accepted_events (tenant_id, event_id, job_id)
           SELECT $1, e, j FROM unnest($2::uuid[], $3::text[]) AS t(e, j)
           ON CONFLICT DO NOTHING""",
        tenant_id,
        [e for e, _ in accepted],
        [j for _, j in accepted],
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

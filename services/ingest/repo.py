"""Ingest's SQL: accepted event ids (idempotency at the front door)."""

from __future__ import annotations

from collections.abc import Sequence
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

"""Publishing's SQL: post claims, and the one read of a connection's credentials."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

from jobcast.db import migrate, migrations_of
from schemas.publish import PublishCommand, PublishCompleted


async def migrate_publishing(pool: asyncpg.Pool) -> None:
    """Create or update the claims table."""
    await migrate(pool, "publishing", migrations_of("services.publishing"))


@dataclass(frozen=True, slots=True)
class ExistingClaim:
    """A claim found for a key: `result` is set once the outcome was recorded."""

    state: str
    result: PublishCompleted | None


async def try_claim(
    pool: asyncpg.Pool, tenant_id: UUID, command: PublishCommand
) -> ExistingClaim | None:
    """Take the key in one atomic step; None means we own it now, else what was there."""
    inserted = await pool.fetchval(
        """INSERT INTO publishing.post_claims
               (post_key, platform, tenant_id, connection_id, job_id, state)
           VALUES ($1, $2, $3, $4, $5, 'claimed')
           ON CONFLICT (post_key) DO NOTHING
           RETURNING post_key""",
        command.post_key,
        command.platform.value,
        tenant_id,
        command.connection_id,
        command.job_id,
    )
    if inserted is not None:
        return None
    row = await pool.fetchrow(
        "SELECT state, result_event FROM publishing.post_claims WHERE post_key = $1",
        command.post_key,
    )
    assert row is not None  # claims are never deleted
    result = row["result_event"]
    return ExistingClaim(
        row["state"], PublishCompleted.model_validate_json(result) if result else None
    )


async def record_outcome(pool: asyncpg.Pool, event: PublishCompleted) -> None:
    """Store the result event itself, so a redelivered command re-emits it verbatim."""
    await pool.execute(
        """UPDATE publishing.post_claims
           SET state = 'done', result_event = $2::jsonb, updated_at = now()
           WHERE post_key = $1""",
        event.payload.post_key,
        event.model_dump_json(),
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    account_id: str
    status: str
    token_ciphertext: bytes


async def load_credentials(
    pool: asyncpg.Pool, tenant_id: UUID, connection_id: UUID
) -> Credentials | None:
    """The encrypted token of a tenant's connection (the distributor owns the table)."""
    row = await pool.fetchrow(
        """SELECT account_id, status, token_ciphertext FROM distributor.connections
           WHERE connection_id = $1 AND tenant_id = $2""",
        connection_id,
        tenant_id,
    )
    if row is None:
        return None
    return Credentials(row["account_id"], row["status"], bytes(row["token_ciphertext"]))

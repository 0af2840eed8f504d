"""Connections storage (schema `distributor`): the only SQL of the distributor."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID, uuid4

import asyncpg

from jobcast.crypto import TokenCipher
from jobcast.db import migrate, migrations_of
from schemas.platforms import Platform


@dataclass(frozen=True, slots=True)
class Connection:
    """A connected account, without its token."""

    connection_id: UUID
    tenant_id: UUID
    platform: Platform
    account_id: str
    display_name: str
    status: str


_COLUMNS = "connection_id, tenant_id, platform, account_id, display_name, status"


def _connection(row: asyncpg.Record) -> Connection:
    return Connection(
        row["connection_id"],
        row["tenant_id"],
        Platform(row["platform"]),
        row["account_id"],
        row["display_name"],
        row["status"],
    )


async def migrate_distributor(pool: asyncpg.Pool) -> None:
    """Create or update the distributor's tables."""
    await migrate(pool, "distributor", migrations_of("services.distributor"))


async def add_connection(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    *,
    tenant_id: UUID,
    platform: Platform,
    account_id: str,
    token: str,
    display_name: str = "",
) -> Connection:
    """Store a connection (or replace the token of an existing one) and reactivate it."""
    row = await pool.fetchrow(
        f"""INSERT INTO distributor.connections
               (connection_id, tenant_id, platform, account_id, display_name, token_ciphertext)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (tenant_id, platform, account_id) DO UPDATE
               SET token_ciphertext = EXCLUDED.token_ciphertext,
                   display_name = EXCLUDED.display_name,
                   status = 'active', updated_at = now()
            RETURNING {_COLUMNS}""",
        uuid4(),
        tenant_id,
        platform.value,
        account_id,
        display_name,
        cipher.encrypt(token),
    )
    assert row is not None
    return _connection(row)


async def list_connections(pool: asyncpg.Pool, tenant_id: UUID) -> list[Connection]:
    """Every connection of a tenant, whatever its status."""
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM distributor.connections WHERE tenant_id = $1"
        " ORDER BY platform, account_id",
        tenant_id,
    )
    return [_connection(r) for r in rows]


async def active_connections(pool: asyncpg.Pool, tenant_id: UUID) -> list[Connection]:
    """The connections that should receive a tenant's jobs now."""
    return [c for c in await list_connections(pool, tenant_id) if c.status == "active"]


async def set_connection_status(
    pool: asyncpg.Pool, connection_id: UUID, tenant_id: UUID, status: str
) -> bool:
    """Change a connection's status; False if the tenant has no such connection."""
    updated = await pool.fetchval(
        """UPDATE distributor.connections SET status = $3, updated_at = now()
           WHERE connection_id = $1 AND tenant_id = $2 RETURNING true""",
        connection_id,
        tenant_id,
        status,
    )
    return bool(updated)

"""Tenants and API keys (schema `tenancy`), used by every tenant-facing API."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import asyncpg

if TYPE_CHECKING:
    from jobcast.db import Connection

from jobcast.db import migrate, migrations_of

KEY_PREFIX = "jc_"


@dataclass(frozen=True, slots=True)
class Tenant:
    tenant_id: UUID
    name: str


class KeyScope(StrEnum):
    """What an API key may do."""

    TENANT = "tenant"  # submit job events, read the tenant's posts
    OPERATOR = "operator"  # that, and issue operator commands for the tenant


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling with a live key: its tenant, its scope, and how to name it."""

    tenant: Tenant
    scope: KeyScope
    key_prefix: str  # what `api-keys list` shows; never the key

    @property
    def actor(self) -> str:
        """The caller as operator commands and their audit name it."""
        return f"api-key:{self.key_prefix}"


def hash_api_key(api_key: str) -> bytes:
    """The stored form of a key."""
    return hashlib.sha256(api_key.encode()).digest()


def new_api_key() -> str:
    """A fresh key: the prefix makes leaked keys easy to find by secret scanners."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def migrate_tenancy(pool: asyncpg.Pool) -> None:
    """Create or update the tenancy tables."""
    await migrate(pool, "tenancy", migrations_of("jobcast"))


async def create_tenant(pool: asyncpg.Pool, name: str) -> tuple[Tenant, str]:
    """Create a tenant and its first API key; the key is returned once and never stored."""
    tenant = Tenant(uuid4(), name)
    api_key = new_api_key()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO tenancy.tenants (tenant_id, name) VALUES ($1, $2)", tenant.tenant_id, name
        )
        await _insert_key(conn, tenant.tenant_id, api_key)
    return tenant, api_key


async def add_api_key(
    pool: asyncpg.Pool, tenant_id: UUID, scope: KeyScope = KeyScope.TENANT
) -> str:
    """Issue another key for a tenant (for rotation, or with operator scope)."""
    api_key = new_api_key()
    async with pool.acquire() as conn:
        await _insert_key(conn, tenant_id, api_key, scope)
    return api_key


async def _insert_key(
    conn: Connection, tenant_id: UUID, api_key: str, scope: KeyScope = KeyScope.TENANT
) -> None:
    await conn.execute(
        "INSERT INTO tenancy.api_keys (key_hash, key_prefix, tenant_id, scope)"
        " VALUES ($1, $2, $3, $4)",
        hash_api_key(api_key),
        api_key[:8],
        tenant_id,
        scope.value,
    )


async def tenant_by_name(pool: asyncpg.Pool, name: str) -> Tenant | None:
    """Look a tenant up by its unique name."""
    row = await pool.fetchrow("SELECT tenant_id, name FROM tenancy.tenants WHERE name = $1", name)
    return Tenant(row["tenant_id"], row["name"]) if row else None


async def tenant_exists(pool: asyncpg.Pool, tenant_id: UUID) -> bool:
    """Whether a tenant with this id exists."""
    return bool(
        await pool.fetchval("SELECT true FROM tenancy.tenants WHERE tenant_id = $1", tenant_id)
    )


async def identify(pool: asyncpg.Pool, api_key: str) -> Caller | None:
    """The tenant and scope of a live (not revoked) key, or None."""
    row = await pool.fetchrow(
        """SELECT t.tenant_id, t.name, k.scope, k.key_prefix FROM tenancy.api_keys k
           JOIN tenancy.tenants t USING (tenant_id)
           WHERE k.key_hash = $1 AND k.revoked_at IS NULL""",
        hash_api_key(api_key),
    )
    if row is None:
        return None
    return Caller(Tenant(row["tenant_id"], row["name"]), KeyScope(row["scope"]), row["key_prefix"])


async def authenticate(pool: asyncpg.Pool, api_key: str) -> Tenant | None:
    """The tenant a live (not revoked) key belongs to, or None."""
    caller = await identify(pool, api_key)
    return caller.tenant if caller else None


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What may be shown about a key: never the key itself."""

    key_prefix: str
    created_at: datetime
    revoked_at: datetime | None
    scope: KeyScope = KeyScope.TENANT


async def list_api_keys(pool: asyncpg.Pool, tenant_id: UUID) -> list[ApiKeyInfo]:
    """A tenant's keys, newest first."""
    rows = await pool.fetch(
        "SELECT key_prefix, created_at, revoked_at, scope FROM tenancy.api_keys"
        " WHERE tenant_id = $1 ORDER BY created_at DESC",
        tenant_id,
    )
    return [
        ApiKeyInfo(r["key_prefix"], r["created_at"], r["revoked_at"], KeyScope(r["scope"]))
        for r in rows
    ]


async def revoke_api_key(pool: asyncpg.Pool, tenant_id: UUID, key_or_prefix: str) -> int:
    """Revoke a live key given whole, or by the prefix `list` shows if that is unambiguous.

    Returns how many keys matched (0 or 1 revoked; more than 1 revokes nothing).
    """
    if len(key_or_prefix) > len(KEY_PREFIX) + 8:
        matches = await pool.fetch(
            "SELECT key_hash FROM tenancy.api_keys"
            " WHERE tenant_id = $1 AND key_hash = $2 AND revoked_at IS NULL",
            tenant_id,
            hash_api_key(key_or_prefix),
        )
    else:
        matches = await pool.fetch(
            "SELECT key_hash FROM tenancy.api_keys"
            " WHERE tenant_id = $1 AND key_prefix = $2 AND revoked_at IS NULL",
            tenant_id,
            key_or_prefix,
        )
    if len(matches) == 1:
        await pool.execute(
            "UPDATE tenancy.api_keys SET revoked_at = now() WHERE key_hash = $1",
            matches[0]["key_hash"],
        )
    return len(matches)

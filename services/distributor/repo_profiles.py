"""Tenant profiles' SQL (schema `distributor`, table created by
migrations/003_tenant_profiles.sql): one JSONB row per tenant."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from services.distributor.models import TenantProfile
from services.distributor.profile import profile_from_json, profile_to_json

if TYPE_CHECKING:
    from jobcast.db import Connection


async def get_profile(db: asyncpg.Pool | Connection, tenant_id: UUID) -> TenantProfile:
    """The tenant's profile, or the defaults when none is stored (pool or connection)."""
    stored = await db.fetchval(
        "SELECT profile::text FROM distributor.tenant_profiles WHERE tenant_id = $1", tenant_id
    )
    return stored_profile(stored)


def stored_profile(stored: str | None) -> TenantProfile:
    """A profile as stored (its JSON text), or the defaults when none is."""
    return TenantProfile() if stored is None else profile_from_json(json.loads(stored))


async def put_profile(
    db: asyncpg.Pool | Connection, tenant_id: UUID, profile: TenantProfile
) -> None:
    """Store (or replace) the tenant's profile; it is validated first."""
    await db.execute(
        """INSERT INTO distributor.tenant_profiles (tenant_id, profile, updated_at)
           VALUES ($1, $2::jsonb, now())
           ON CONFLICT (tenant_id) DO UPDATE
              SET profile = EXCLUDED.profile, updated_at = EXCLUDED.updated_at""",
        tenant_id,
        json.dumps(profile_to_json(profile)),
    )

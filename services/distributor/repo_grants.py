"""LinkedIn consents waiting for the tenant's choice of organization (schema
`distributor`, table `linkedin_grants`): the tokens encrypted, single use, short-lived."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

from jobcast.crypto import TokenCipher


@dataclass(frozen=True, slots=True)
class HeldGrant:
    """A member's tokens and the organizations they may connect, as held."""

    token_ciphertext: bytes
    token_expires_at: datetime
    refresh_ciphertext: bytes | None
    refresh_expires_at: datetime | None
    scopes: tuple[str, ...]
    organizations: dict[str, str]  # organization id -> name


async def hold_grant(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    *,
    tenant_id: UUID,
    token: str,
    token_expires_at: datetime,
    refresh_token: str | None,
    refresh_expires_at: datetime | None,
    scopes: tuple[str, ...],
    organizations: dict[str, str],
    expires_at: datetime,
) -> UUID:
    """Keep a consent until the tenant chooses (or `expires_at`); its id."""
    grant_id = uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM distributor.linkedin_grants WHERE expires_at < now()")
        await conn.execute(
            """INSERT INTO distributor.linkedin_grants
                   (grant_id, tenant_id, token_ciphertext, token_expires_at,
                    refresh_token_ciphertext, refresh_token_expires_at, token_scopes,
                    organizations, expires_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9)""",
            grant_id,
            tenant_id,
            cipher.encrypt(token),
            token_expires_at,
            cipher.encrypt(refresh_token) if refresh_token else None,
            refresh_expires_at if refresh_token else None,
            list(scopes),
            json.dumps(organizations),
            expires_at,
        )
    return grant_id


async def take_grant(
    pool: asyncpg.Pool, tenant_id: UUID, grant_id: UUID, organization_id: str
) -> HeldGrant | None:
    """The tenant's held consent, used up for `organization_id`; None when unknown, another
    tenant's, expired, or not offering that organization (then it stays for another try)."""
    row = await pool.fetchrow(
        """DELETE FROM distributor.linkedin_grants
            WHERE grant_id = $1 AND tenant_id = $2 AND organizations ? $3
        RETURNING token_ciphertext, token_expires_at, refresh_token_ciphertext,
                  refresh_token_expires_at, token_scopes, organizations,
                  expires_at > now() AS live""",
        grant_id,
        tenant_id,
        organization_id,
    )
    if row is None or not row["live"]:
        return None
    refresh = row["refresh_token_ciphertext"]
    organizations = json.loads(row["organizations"])
    return HeldGrant(
        bytes(row["token_ciphertext"]),
        row["token_expires_at"],
        bytes(refresh) if refresh else None,
        row["refresh_token_expires_at"],
        tuple(row["token_scopes"]),
        {str(k): str(v) for k, v in organizations.items()},
    )

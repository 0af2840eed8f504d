"""Connections' SQL (schema `distributor`): connected accounts, their encrypted tokens,
OAuth nonces. Plans and posts are in `repo_posts`, tenant profiles in `repo_profiles`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import asyncpg
from cryptography.fernet import InvalidToken

from jobcast.crypto import TokenCipher
from jobcast.db import migrate, migrations_of
from jobcast.graph.hosts import LoginKind
from schemas.platforms import Platform
from services.distributor.models import Connection, TenantProfile
from services.distributor.repo_profiles import stored_profile

if TYPE_CHECKING:
    from jobcast.db import Connection as DbConnection


@dataclass(frozen=True, slots=True)
class StoredCredential:
    """A connection with its encrypted token, for the code that must call Meta with it."""

    connection: Connection
    token_ciphertext: bytes
    refresh_ciphertext: bytes | None = None  # LinkedIn's refresh token, when it has one


@dataclass(frozen=True, slots=True)
class RotationCounts:
    rotated: int
    failed: int  # no configured key decrypts them


_COLUMNS = (
    "connection_id, tenant_id, platform, account_id, display_name, status,"
    " token_expires_at, last_verified_at, last_verify_error, updated_at,"
    " login, token_issued_at, token_scopes, refresh_token_expires_at"
)


def _connection(row: asyncpg.Record) -> Connection:
    return Connection(
        row["connection_id"],
        row["tenant_id"],
        Platform(row["platform"]),
        row["account_id"],
        row["display_name"],
        row["status"],
        row["token_expires_at"],
        row["last_verified_at"],
        row["last_verify_error"],
        row["updated_at"],
        LoginKind(row["login"]),
        row["token_issued_at"],
        tuple(row["token_scopes"]),
        row["refresh_token_expires_at"],
    )


def _credential(row: asyncpg.Record) -> StoredCredential:
    refresh = row["refresh_token_ciphertext"]
    return StoredCredential(
        _connection(row), bytes(row["token_ciphertext"]), bytes(refresh) if refresh else None
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
    token_expires_at: datetime | None = None,
    login: LoginKind = LoginKind.FACEBOOK,
    token_scopes: tuple[str, ...] = (),
    refresh_token: str | None = None,
    refresh_token_expires_at: datetime | None = None,
) -> Connection:
    """Store a connection (or replace the token of an existing one) and reactivate it.

    A new token starts with a clean bill of health: the next verification looks at it.
    The same account connected again, through either login, takes the newest login's token
    and host.
    """
    row = await pool.fetchrow(
        f"""INSERT INTO distributor.connections
               (connection_id, tenant_id, platform, account_id, display_name, token_ciphertext,
                token_expires_at, login, token_issued_at, token_scopes,
                refresh_token_ciphertext, refresh_token_expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now(), $9, $10, $11)
            ON CONFLICT (tenant_id, platform, account_id) DO UPDATE
               SET token_ciphertext = EXCLUDED.token_ciphertext,
                   refresh_token_ciphertext = EXCLUDED.refresh_token_ciphertext,
                   refresh_token_expires_at = EXCLUDED.refresh_token_expires_at,
                   display_name = EXCLUDED.display_name,
                   token_expires_at = EXCLUDED.token_expires_at,
                   login = EXCLUDED.login, token_issued_at = EXCLUDED.token_issued_at,
                   token_scopes = EXCLUDED.token_scopes,
                   last_verified_at = NULL, last_verify_error = '', expiry_warned_for = NULL,
                   status = 'active', updated_at = now()
            RETURNING {_COLUMNS}""",
        uuid4(),
        tenant_id,
        platform.value,
        account_id,
        display_name,
        cipher.encrypt(token),
        token_expires_at,
        login.value,
        list(token_scopes),
        cipher.encrypt(refresh_token) if refresh_token else None,
        refresh_token_expires_at if refresh_token else None,
    )
    assert row is not None
    return _connection(row)


async def list_connections(pool: asyncpg.Pool | DbConnection, tenant_id: UUID) -> list[Connection]:
    """Every connection of a tenant, whatever its status (also inside a transaction)."""
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM distributor.connections WHERE tenant_id = $1"
        " ORDER BY platform, account_id",
        tenant_id,
    )
    return [_connection(r) for r in rows]


# Connections that take part in planning: active ones get posts, the rest a skip with reason.
PLANNED_STATUSES = frozenset({"active", "needs_reconnect"})


async def planned_connections(
    pool: asyncpg.Pool | DbConnection, tenant_id: UUID
) -> list[Connection]:
    """The connections a tenant's new jobs are planned for (also inside a transaction)."""
    return [c for c in await list_connections(pool, tenant_id) if c.status in PLANNED_STATUSES]


@dataclass(frozen=True, slots=True)
class PlanningReads:
    """What planning a tenant's new jobs reads, once a poll: its profile, its paused scopes
    and its planned connections."""

    profile: TenantProfile
    paused: frozenset[str]
    connections: list[Connection]


_PLANNING_COLUMNS = ", ".join(f"c.{name.strip()}" for name in _COLUMNS.split(","))


async def planning_reads(conn: DbConnection, tenant_ids: list[UUID]) -> dict[UUID, PlanningReads]:
    """`PlanningReads` of each tenant in one statement: a poll of new jobs pays one round
    trip for its tenants, not three a tenant."""
    rows = await conn.fetch(
        f"""SELECT t.tenant_id AS planned_tenant,
                   (SELECT p.profile::text FROM distributor.tenant_profiles p
                     WHERE p.tenant_id = t.tenant_id) AS stored_profile,
                   ARRAY(SELECT s.scope FROM distributor.pauses s
                          WHERE s.tenant_id = t.tenant_id) AS paused,
                   {_PLANNING_COLUMNS}
            FROM unnest($1::uuid[]) AS t(tenant_id)
            LEFT JOIN distributor.connections c
              ON c.tenant_id = t.tenant_id AND c.status = ANY($2::text[])
            ORDER BY t.tenant_id, c.platform, c.account_id""",
        tenant_ids,
        sorted(PLANNED_STATUSES),
    )
    found: dict[UUID, PlanningReads] = {}
    for row in rows:
        tenant = row["planned_tenant"]
        if tenant not in found:
            found[tenant] = PlanningReads(
                stored_profile(row["stored_profile"]), frozenset(row["paused"]), []
            )
        if row["connection_id"] is not None:
            found[tenant].connections.append(_connection(row))
    return found


async def get_connection(
    pool: asyncpg.Pool, tenant_id: UUID, connection_id: UUID
) -> Connection | None:
    """One of a tenant's connections (None for another tenant's)."""
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM distributor.connections"
        " WHERE connection_id = $1 AND tenant_id = $2",
        connection_id,
        tenant_id,
    )
    return _connection(row) if row else None


async def active_connections(pool: asyncpg.Pool, tenant_id: UUID) -> list[Connection]:
    """The connections that should receive a tenant's jobs now."""
    return [c for c in await list_connections(pool, tenant_id) if c.status == "active"]


async def set_connection_status(
    pool: asyncpg.Pool,
    connection_id: UUID,
    tenant_id: UUID,
    status: str,
    *,
    as_of: datetime | None = None,
) -> bool:
    """Change a connection's status; False if the tenant has no such connection.

    With `as_of` (when the change happened), a row changed since then is left alone:
    a late "needs reconnect" about an old token must not undo a reconnect. The row then
    takes `as_of` as its change time, so re-applying an event never hides a newer one.
    """
    updated = await pool.fetchval(
        """UPDATE distributor.connections SET status = $3, updated_at = COALESCE($4, now())
           WHERE connection_id = $1 AND tenant_id = $2
             AND ($4::timestamptz IS NULL OR updated_at <= $4)
           RETURNING true""",
        connection_id,
        tenant_id,
        status,
        as_of,
    )
    return bool(updated)


async def remove_connection(
    pool: asyncpg.Pool, tenant_id: UUID, connection_id: UUID
) -> Connection | None:
    """Mark a connection removed and erase its token; None if the tenant has no such one.

    The row stays, so commands already in flight still resolve (and are refused).
    Removing twice changes nothing more.
    """
    row = await pool.fetchrow(
        f"""UPDATE distributor.connections
               SET token_ciphertext = ''::bytea, status = 'removed',
                   refresh_token_ciphertext = NULL, refresh_token_expires_at = NULL,
                   token_expires_at = NULL, expiry_warned_for = NULL,
                   updated_at = CASE WHEN status = 'removed' THEN updated_at ELSE now() END
             WHERE connection_id = $1 AND tenant_id = $2
            RETURNING {_COLUMNS}""",
        connection_id,
        tenant_id,
    )
    return _connection(row) if row else None


async def credentials_to_verify(
    pool: asyncpg.Pool, tenant_id: UUID, connection_id: UUID | None = None
) -> list[StoredCredential]:
    """A tenant's connections that still hold a token (all, or the one named)."""
    rows = await pool.fetch(
        f"""SELECT {_COLUMNS}, token_ciphertext, refresh_token_ciphertext
              FROM distributor.connections
             WHERE tenant_id = $1 AND status <> 'removed'
               AND ($2::uuid IS NULL OR connection_id = $2)
             ORDER BY platform, account_id""",
        tenant_id,
        connection_id,
    )
    return [_credential(r) for r in rows]


async def claim_due_verifications(
    pool: asyncpg.Pool, *, interval_seconds: float, limit: int
) -> list[StoredCredential]:
    """Take up to `limit` connections not verified for `interval_seconds`.

    Claiming stamps `last_verified_at`, so several distributor instances share the work
    instead of each checking every token.
    """
    rows = await pool.fetch(
        f"""UPDATE distributor.connections SET last_verified_at = now()
             WHERE connection_id IN (
                   SELECT connection_id FROM distributor.connections
                    WHERE status <> 'removed'
                      AND (last_verified_at IS NULL
                           OR last_verified_at < now() - make_interval(secs => $1))
                    ORDER BY last_verified_at NULLS FIRST
                    LIMIT $2
                      FOR UPDATE SKIP LOCKED)
            RETURNING {_COLUMNS}, token_ciphertext, refresh_token_ciphertext""",
        interval_seconds,
        limit,
    )
    return [_credential(r) for r in rows]


async def record_verification(
    pool: asyncpg.Pool, connection_id: UUID, *, expires_at: datetime | None, error: str
) -> None:
    """Store what the last check found (not a status change: `updated_at` stays)."""
    await pool.execute(
        """UPDATE distributor.connections
              SET last_verified_at = now(), token_expires_at = $2, last_verify_error = $3
            WHERE connection_id = $1""",
        connection_id,
        expires_at,
        error[:500],
    )


async def store_refreshed_token(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    connection_id: UUID,
    *,
    old_ciphertext: bytes,
    token: str,
    expires_at: datetime | None,
    refresh_token: str | None = None,
    refresh_expires_at: datetime | None = None,
) -> bool:
    """Replace a refreshed token (encrypted), its expiry and issue time, and the refresh
    token when a new one came with it; False when the row no longer holds the token that
    was refreshed (a reconnect or removal meanwhile).

    Not a status change: `updated_at` stays. The expiry warned about is forgotten, so a
    later expiry is announced again.
    """
    swapped = await pool.fetchval(
        """UPDATE distributor.connections
              SET token_ciphertext = $3, token_expires_at = $4, token_issued_at = now(),
                  expiry_warned_for = NULL,
                  refresh_token_ciphertext = COALESCE($5, refresh_token_ciphertext),
                  refresh_token_expires_at = CASE WHEN $5::bytea IS NULL
                       THEN refresh_token_expires_at ELSE $6 END
            WHERE connection_id = $1 AND token_ciphertext = $2 AND status <> 'removed'
           RETURNING true""",
        connection_id,
        old_ciphertext,
        cipher.encrypt(token),
        expires_at,
        cipher.encrypt(refresh_token) if refresh_token else None,
        refresh_expires_at,
    )
    return bool(swapped)


async def mark_needs_reconnect(pool: asyncpg.Pool, connection_id: UUID) -> Connection | None:
    """Move an active connection to `needs_reconnect`; None if it was not active."""
    row = await pool.fetchrow(
        f"""UPDATE distributor.connections SET status = 'needs_reconnect', updated_at = now()
             WHERE connection_id = $1 AND status = 'active'
            RETURNING {_COLUMNS}""",
        connection_id,
    )
    return _connection(row) if row else None


async def note_expiry_warning(
    pool: asyncpg.Pool, connection_id: UUID, expires_at: datetime
) -> bool:
    """True the first time a given expiry is warned about (so each is announced once)."""
    updated = await pool.fetchval(
        """UPDATE distributor.connections SET expiry_warned_for = $2
            WHERE connection_id = $1 AND expiry_warned_for IS DISTINCT FROM $2
           RETURNING true""",
        connection_id,
        expires_at,
    )
    return bool(updated)


async def consume_oauth_nonce(
    pool: asyncpg.Pool, nonce: str, tenant_id: UUID, expires_at: datetime
) -> bool:
    """Redeem an OAuth state's nonce: True once, False on every replay."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM distributor.oauth_nonces WHERE expires_at < now()")
        inserted = await conn.fetchval(
            """INSERT INTO distributor.oauth_nonces (nonce, tenant_id, expires_at)
               VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING RETURNING true""",
            nonce,
            tenant_id,
            expires_at,
        )
    return bool(inserted)


async def rotate_tokens(pool: asyncpg.Pool | DbConnection, cipher: TokenCipher) -> RotationCounts:
    """Re-encrypt every stored token (and LinkedIn refresh token) under the newest key.

    Each row is swapped only if it still holds the ciphertexts read, so a token replaced
    meanwhile (a reconnect, a refresh) is never overwritten with an older one.
    """
    rows = await pool.fetch(
        "SELECT connection_id, token_ciphertext, refresh_token_ciphertext"
        " FROM distributor.connections"
        " WHERE token_ciphertext <> ''::bytea ORDER BY connection_id"
    )
    rotated = failed = 0
    for row in rows:
        old = bytes(row["token_ciphertext"])
        old_refresh = row["refresh_token_ciphertext"]
        try:
            new = cipher.rotate(old)
            new_refresh = cipher.rotate(bytes(old_refresh)) if old_refresh else None
        except InvalidToken:
            failed += 1
            continue
        swapped = await pool.fetchval(
            """UPDATE distributor.connections
                  SET token_ciphertext = $3, refresh_token_ciphertext = $5
                WHERE connection_id = $1 AND token_ciphertext = $2
                  AND refresh_token_ciphertext IS NOT DISTINCT FROM $4 RETURNING true""",
            row["connection_id"],
            old,
            new,
            old_refresh,
            new_refresh,
        )
        rotated += bool(swapped)
    return RotationCounts(rotated, failed)

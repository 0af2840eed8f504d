"""Decrypted tokens, cached briefly in memory (never logged, never persisted).

A burst of posts for one account would otherwise read and decrypt the same token
hundreds of times. Entries live for a short TTL and are dropped at once when Meta
rejects the token, so a reconnected account is picked up quickly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from jobcast.crypto import TokenCipher, TokenDecryptError
from jobcast.graph.hosts import LoginKind


@dataclass(frozen=True, slots=True)
class Usable:
    account_id: str
    token: str
    login: LoginKind = LoginKind.FACEBOOK  # which host the token works on (`GraphHosts`)

    def __repr__(self) -> str:  # keeps the token out of tracebacks and debug output
        return f"Usable(account_id={self.account_id!r}, login={self.login}, token=[redacted])"


@dataclass(frozen=True, slots=True)
class Unusable:
    reason: str


class CredentialCache:
    """Tokens per (tenant, connection), for `ttl_seconds` at most."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: TokenCipher,
        ttl_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[UUID, UUID], tuple[float, Usable]] = {}

    async def get(self, tenant_id: UUID, connection_id: UUID) -> Usable | Unusable:
        """The connection's token if it is active, else why not."""
        key = (tenant_id, connection_id)
        cached = self._entries.get(key)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        stored = await load_credentials(self._pool, tenant_id, connection_id)
        if stored is None or stored.status != "active":
            self._entries.pop(key, None)
            return Unusable("connection missing or needs reconnect")
        try:
            token = self._cipher.decrypt(stored.token_ciphertext)
            usable = Usable(stored.account_id, token, stored.login)
        except TokenDecryptError as exc:
            return Unusable(str(exc))
        self._entries[key] = (self._clock() + self._ttl, usable)
        return usable

    def forget(self, tenant_id: UUID, connection_id: UUID) -> None:
        """Drop a token Meta rejected."""
        self._entries.pop((tenant_id, connection_id), None)


@dataclass(frozen=True, slots=True)
class Credentials:
    account_id: str
    status: str
    token_ciphertext: bytes
    login: LoginKind = LoginKind.FACEBOOK


async def load_credentials(
    pool: asyncpg.Pool, tenant_id: UUID, connection_id: UUID
) -> Credentials | None:
    """The encrypted token of a tenant's connection (the distributor owns the table)."""
    row = await pool.fetchrow(
        """SELECT account_id, status, token_ciphertext, login FROM distributor.connections
           WHERE connection_id = $1 AND tenant_id = $2""",
        connection_id,
        tenant_id,
    )
    if row is None:
        return None
    return Credentials(
        row["account_id"],
        row["status"],
        bytes(row["token_ciphertext"]),
        LoginKind(row["login"]),
    )

"""Token health: `debug_token` for every connection, on a timer and on demand.

A token Meta no longer accepts moves its connection to `needs_reconnect` (and the
distributor stops planning posts for it); a token that expires within the warning window
is announced once with `connection.expiring`. A check that cannot be made (Meta
unreachable, a key that no longer decrypts) is recorded and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import asyncpg

from jobcast.crypto import TokenCipher, TokenDecryptError
from jobcast.graph.client import GraphError
from jobcast.graph.login import FacebookGraph, TokenInfo
from schemas.connections import ConnectionExpiring, ConnectionExpiry, ConnectionStatus
from schemas.envelope import utcnow
from schemas.platforms import Platform
from services.distributor.connections import Emit, status_event
from services.distributor.models import Connection
from services.distributor.repo import (
    StoredCredential,
    claim_due_verifications,
    credentials_to_verify,
    mark_needs_reconnect,
    note_expiry_warning,
    record_verification,
)

log = logging.getLogger(__name__)

# What a connection's token must grant for the publisher of its platform to work.
REQUIRED_SCOPES: dict[Platform, tuple[str, ...]] = {
    Platform.FACEBOOK: ("pages_manage_posts", "pages_read_engagement"),
    Platform.INSTAGRAM: ("instagram_basic", "instagram_content_publish"),
}


@dataclass(frozen=True, slots=True)
class Health:
    """What one debug_token answer means for a connection."""

    valid: bool
    expires_at: datetime | None
    missing_scopes: tuple[str, ...]
    expiring: bool  # valid, but expires within the warning window
    problem: str  # '' when all is well


def assess(info: TokenInfo, platform: Platform, *, now: datetime, warning: timedelta) -> Health:
    """Judge a token from Meta's answer (pure)."""
    expired = info.expires_at is not None and info.expires_at <= now
    valid = info.is_valid and not expired
    missing = tuple(s for s in REQUIRED_SCOPES[platform] if s not in info.scopes)
    expiring = valid and info.expires_at is not None and info.expires_at - now <= warning
    if not valid:
        problem = "token expired" if expired else (info.error or "token is no longer valid")
    elif missing:
        problem = f"missing scopes: {', '.join(missing)}"
    else:
        problem = ""
    return Health(valid, info.expires_at, missing, expiring, problem)


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    """One connection's check, as the `jobcast connections verify` command reports it."""

    connection: Connection
    health: Health | None  # None: the check could not be made
    error: str = ""  # why it could not be made
    marked_needs_reconnect: bool = False
    warned_expiring: bool = False


async def check_connection(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    graph: FacebookGraph,
    emit: Emit,
    credential: StoredCredential,
    *,
    warning: timedelta,
    now: datetime | None = None,
) -> VerifyOutcome:
    """Check one connection's token, store what was found, and act on it."""
    connection = credential.connection
    try:
        token = cipher.decrypt(credential.token_ciphertext)
        info = await graph.debug_token(token)
    except (TokenDecryptError, GraphError) as exc:
        await record_verification(
            pool, connection.connection_id, expires_at=connection.token_expires_at, error=str(exc)
        )
        return VerifyOutcome(connection, None, error=str(exc))
    health = assess(info, connection.platform, now=now or utcnow(), warning=warning)
    await record_verification(
        pool, connection.connection_id, expires_at=health.expires_at, error=health.problem
    )
    marked = warned = False
    if not health.valid:
        changed = await mark_needs_reconnect(pool, connection.connection_id)
        if changed is not None:
            marked = True
            await emit(status_event(changed, ConnectionStatus.NEEDS_RECONNECT, health.problem))
            log.warning(
                "connection needs reconnect",
                extra={"connection_id": str(connection.connection_id), "reason": health.problem},
            )
    elif (
        health.expiring
        and health.expires_at is not None
        and await note_expiry_warning(pool, connection.connection_id, health.expires_at)
    ):
        warned = True
        await emit(
            ConnectionExpiring(
                tenant_id=connection.tenant_id,
                payload=ConnectionExpiry(
                    connection_id=connection.connection_id,
                    platform=connection.platform,
                    account_id=connection.account_id,
                    expires_at=health.expires_at,
                ),
            )
        )
        log.warning(
            "connection token expires soon",
            extra={
                "connection_id": str(connection.connection_id),
                "expires_at": health.expires_at.isoformat(),
            },
        )
    return VerifyOutcome(connection, health, marked_needs_reconnect=marked, warned_expiring=warned)


async def verify_once(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    graph: FacebookGraph,
    emit: Emit,
    *,
    tenant_id: UUID,
    connection_id: UUID | None = None,
    warning: timedelta,
) -> list[VerifyOutcome]:
    """Check a tenant's connections now (all, or the one named), whatever their schedule."""
    return [
        await check_connection(pool, cipher, graph, emit, credential, warning=warning)
        for credential in await credentials_to_verify(pool, tenant_id, connection_id)
    ]


class VerificationLoop:
    """Checks every connection once per interval, in the background.

    Connections are claimed in batches (see `claim_due_verifications`), so several
    distributor instances share the checks, and a restart does not check everything again.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        cipher: TokenCipher,
        graph: FacebookGraph,
        emit: Emit,
        *,
        interval_seconds: float,
        warning_seconds: float,
        batch_size: int = 50,
        concurrency: int = 8,
    ) -> None:
        self._pool = pool
        self._cipher = cipher
        self._graph = graph
        self._emit = emit
        self._interval = interval_seconds
        self._warning = timedelta(seconds=warning_seconds)
        self._batch_size = batch_size
        self._slots = asyncio.Semaphore(concurrency)
        self._poll_seconds = min(interval_seconds, 60.0)

    async def run(self, stopping: asyncio.Event) -> None:
        """Check due connections until `stopping` is set."""
        if not self._graph.configured:
            log.warning("connection checks are off: no Facebook app is configured")
            return
        while not stopping.is_set():
            try:
                await self.run_due()
            except Exception:
                log.exception("token verification pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self._poll_seconds)

    async def run_due(self) -> int:
        """Check every connection that is due now; returns how many were checked."""
        checked = 0
        while batch := await claim_due_verifications(
            self._pool, interval_seconds=self._interval, limit=self._batch_size
        ):
            await asyncio.gather(*(self._check(credential) for credential in batch))
            checked += len(batch)
        return checked

    async def _check(self, credential: StoredCredential) -> None:
        async with self._slots:
            await check_connection(
                self._pool, self._cipher, self._graph, self._emit, credential, warning=self._warning
            )

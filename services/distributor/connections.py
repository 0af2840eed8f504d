"""What happens to a connection, in one place for the HTTP API and the `jobcast` command:
connected through Facebook Login, Instagram Login or LinkedIn's OAuth, removed by its
tenant, and the events that say so.

Each change is written to Postgres first, then announced on `connections.events` with the
row's own change time as `occurred_at`, so a consumer can tell a stale event from a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from uuid import UUID

import asyncpg
from faststream.kafka import KafkaBroker

from jobcast.crypto import TokenCipher
from jobcast.kafka import publish_event
from jobcast.topics import CONNECTIONS_EVENTS
from schemas.connections import (
    ConnectionExpired,
    ConnectionExpiring,
    ConnectionStatus,
    ConnectionStatusChange,
    ConnectionStatusChanged,
)
from schemas.envelope import utcnow
from services.distributor.models import Connection
from services.distributor.oauth import NewConnection
from services.distributor.repo import add_connection, remove_connection

log = logging.getLogger(__name__)

ConnectionEventOut = ConnectionStatusChanged | ConnectionExpiring | ConnectionExpired
Emit = Callable[[ConnectionEventOut], Awaitable[None]]
"""Publishes one connection event (a broker in services, a list in tests)."""


def broker_emitter(broker: KafkaBroker) -> Emit:
    """Emit onto `connections.events`, keyed by connection id (so a connection's events stay
    in order)."""

    async def emit(event: ConnectionEventOut) -> None:
        await publish_event(
            broker,
            CONNECTIONS_EVENTS,
            event,
            key=str(event.payload.connection_id),
            correlation_id=str(event.event_id),
            event_type=event.event_type,
        )

    return emit


def status_event(
    connection: Connection, status: ConnectionStatus, reason: str = ""
) -> ConnectionStatusChanged:
    """The event announcing that `connection` is now in `status`."""
    return ConnectionStatusChanged(
        tenant_id=connection.tenant_id,
        occurred_at=connection.updated_at or utcnow(),
        payload=ConnectionStatusChange(
            connection_id=connection.connection_id,
            platform=connection.platform,
            account_id=connection.account_id,
            status=status,
            reason=reason[:500],
        ),
    )


async def connect_accounts(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    emit: Emit,
    tenant_id: UUID,
    accounts: Sequence[NewConnection],
    *,
    reason: str,
) -> list[Connection]:
    """Store (or refresh) each account as an active connection and announce it."""
    stored: list[Connection] = []
    for account in accounts:
        connection = await add_connection(
            pool,
            cipher,
            tenant_id=tenant_id,
            platform=account.platform,
            account_id=account.account_id,
            token=account.token,
            display_name=account.display_name,
            token_expires_at=account.expires_at,
            login=account.login,
            token_scopes=account.scopes,
            refresh_token=account.refresh_token,
            refresh_token_expires_at=account.refresh_expires_at,
        )
        stored.append(connection)
    for connection in stored:
        await emit(status_event(connection, ConnectionStatus.ACTIVE, reason))
    log.info(
        "connections stored",
        extra={"tenant_id": str(tenant_id), "connections": [str(c.connection_id) for c in stored]},
    )
    return stored


async def disconnect(
    pool: asyncpg.Pool, emit: Emit, tenant_id: UUID, connection_id: UUID, *, reason: str
) -> Connection | None:
    """Remove a tenant's connection (its token is erased) and announce it; None if unknown.

    Removing again re-announces it, so a removal whose event was lost can be repeated.
    """
    removed = await remove_connection(pool, tenant_id, connection_id)
    if removed is None:
        return None
    await emit(status_event(removed, ConnectionStatus.REMOVED, reason))
    log.info(
        "connection removed",
        extra={"tenant_id": str(tenant_id), "connection_id": str(connection_id)},
    )
    return removed

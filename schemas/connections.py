"""Connection state changes (topic `connections.events`, keyed by connection id)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field

from schemas.bounds import Text
from schemas.envelope import ContractModel, Envelope, UtcDatetime
from schemas.platforms import Platform


class ConnectionStatus(StrEnum):
    ACTIVE = "active"
    NEEDS_RECONNECT = "needs_reconnect"
    DISABLED = "disabled"
    REMOVED = "removed"  # disconnected by the tenant: token erased, row kept for history


class ConnectionStatusChange(ContractModel):
    """A connected account changed state, e.g. its token died (Graph error 190)."""

    connection_id: UUID
    platform: Platform
    account_id: Annotated[Text, Field(min_length=1, max_length=64)]
    status: ConnectionStatus
    reason: Annotated[Text, Field(max_length=500)] = ""


class ConnectionStatusChanged(Envelope):
    event_type: Literal["connection.status_changed"] = "connection.status_changed"
    payload: ConnectionStatusChange


class ConnectionExpiry(ContractModel):
    """A connection's token stops (or stopped) working at `expires_at`, unless it is
    refreshed or the tenant reconnects."""

    connection_id: UUID
    platform: Platform
    account_id: Annotated[Text, Field(min_length=1, max_length=64)]
    expires_at: UtcDatetime


class ConnectionExpiring(Envelope):
    """A warning: nothing changes yet, but the connection needs attention before it dies."""

    event_type: Literal["connection.expiring"] = "connection.expiring"
    payload: ConnectionExpiry


class ConnectionExpired(Envelope):
    """The token stopped working at `expires_at` (the connection needs reconnecting; its
    `connection.status_changed` to `needs_reconnect` follows)."""

    event_type: Literal["connection.expired"] = "connection.expired"
    payload: ConnectionExpiry


ConnectionEvent = Annotated[
    ConnectionStatusChanged | ConnectionExpiring | ConnectionExpired,
    Field(discriminator="event_type"),
]
"""Any record on `connections.events`."""

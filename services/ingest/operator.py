"""Operator commands: the one audited way to issue them, shared by ingest's HTTP routes
and the `jobcast ops` CLI.

A command is written to the audit (`ingest.operator_audit`) first, then published to
`operator.commands` keyed by tenant, then its audit row is stamped as published: the
audit can show an attempt that never reached the log, but never misses a command that
did. The service that owns the target acts on it (see `schemas.operator`).
"""

from __future__ import annotations

import base64
import binascii
import logging
from datetime import datetime
from uuid import UUID

import asyncpg
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field

from jobcast.kafka import publish_first_event
from jobcast.topics import OPERATOR_COMMANDS
from schemas.operator import OperatorAction, OperatorCommand, OperatorCommandIssued
from services.ingest import repo

log = logging.getLogger(__name__)

MAX_AUDIT_PAGE = 200
AuditPosition = tuple[datetime, UUID]  # (issued_at, command id) of an entry


class AuditEntry(BaseModel):
    """One audited command, as operators see it."""

    command_id: UUID
    actor: str
    action: OperatorAction
    target: str
    reason: str
    issued_at: datetime
    published_at: datetime | None  # None: the command never reached Kafka


class AuditPage(BaseModel):
    entries: list[AuditEntry]
    next_cursor: str | None = Field(
        description="Pass back as `cursor` for older entries; null at the end"
    )


def target_of(command: OperatorCommand) -> str:
    """What a command is about, as one audit string."""
    if command.post_key is not None:
        return f"post:{command.post_key}"
    if command.job_id is not None:
        return f"job:{command.job_id}"
    if command.platform is not None:
        return f"platform:{command.platform.value}"
    return "tenant"


def encode_cursor(issued_at: datetime, command_id: UUID) -> str:
    """An opaque position in the audit (after the entry it was taken from)."""
    raw = f"{issued_at.isoformat()}|{command_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> AuditPosition:
    """The position a cursor names; ValueError if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, _, command_id = raw.partition("|")
        issued_at = datetime.fromisoformat(when)
        position = (issued_at, UUID(command_id))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("not a cursor returned by this API") from None
    if issued_at.tzinfo is None:
        raise ValueError("not a cursor returned by this API")
    return position


class OperatorDesk:
    """Issues operator commands (audit, then publish) and reads the audit back."""

    def __init__(self, pool: asyncpg.Pool, broker: KafkaBroker) -> None:
        self._pool = pool
        self._broker = broker

    async def issue(self, tenant_id: UUID, command: OperatorCommand) -> OperatorCommandIssued:
        """Audit and publish one command; returns the event (its id is the command id)."""
        event = OperatorCommandIssued(tenant_id=tenant_id, payload=command)
        await repo.record_operator_command(
            self._pool,
            event_id=event.event_id,
            tenant_id=tenant_id,
            actor=command.actor,
            action=command.action.value,
            target=target_of(command),
            reason=command.reason,
            issued_at=event.occurred_at,
        )
        await publish_first_event(self._broker, OPERATOR_COMMANDS, event, key=str(tenant_id))
        await repo.mark_operator_command_published(self._pool, event.event_id)
        log.info(
            "operator command issued",
            extra={
                "command_id": str(event.event_id),
                "tenant_id": str(tenant_id),
                "action": command.action.value,
                "actor": command.actor,
                "target": target_of(command),
            },
        )
        return event

    async def audit(
        self, tenant_id: UUID, limit: int, after: AuditPosition | None = None
    ) -> AuditPage:
        """A page of the tenant's audit, newest first, older than `after` when given."""
        limit = max(1, min(limit, MAX_AUDIT_PAGE))
        rows = await repo.operator_audit_page(self._pool, tenant_id, limit + 1, after)
        entries = [
            AuditEntry(
                command_id=r["event_id"],
                actor=r["actor"],
                action=OperatorAction(r["action"]),
                target=r["target"],
                reason=r["reason"],
                issued_at=r["issued_at"],
                published_at=r["published_at"],
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        last = entries[-1] if entries and more else None
        next_cursor = encode_cursor(last.issued_at, last.command_id) if last else None
        return AuditPage(entries=entries, next_cursor=next_cursor)

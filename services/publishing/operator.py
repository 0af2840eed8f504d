"""Operator commands a publisher acts on: `retry` of one of its platform's failed posts.

The retry only reopens the key (see `repo.reopen_failed`): the publisher's timer loop
runs it like any due retry, from the stored command, and reports as usual. Every other
action belongs to the distributor and is skipped here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import asyncpg

from jobcast.kafka import RecordMeta
from schemas.operator import OperatorAction, OperatorCommandIssued
from schemas.platforms import Platform
from services.publishing import repo

log = logging.getLogger(__name__)


def _nothing() -> None:
    pass


class OperatorRetries:
    """Handles `operator.commands` for one platform's publisher (idempotent)."""

    def __init__(
        self, pool: asyncpg.Pool, platform: Platform, on_reopened: Callable[[], None] = _nothing
    ) -> None:
        self._pool = pool
        self._platform = platform
        self._on_reopened = on_reopened  # the timer loop's wake-up: the retry is due now

    async def __call__(self, event: OperatorCommandIssued, meta: RecordMeta) -> None:
        command = event.payload
        if command.action is not OperatorAction.RETRY or command.post_key is None:
            return
        outcome = await repo.reopen_failed(
            self._pool,
            tenant_id=event.tenant_id,
            post_key=command.post_key,
            platform=self._platform.value,
            command_id=event.event_id,
        )
        details = {
            "post_key": command.post_key,
            "command_id": str(event.event_id),
            "actor": command.actor,
        }
        if isinstance(outcome, repo.Reopened):
            self._on_reopened()
            log.info("operator retry: post reopened", extra={**details, "attempt": outcome.attempt})
        elif outcome is not repo.RetryRefused.OTHER_PLATFORM:  # the other publisher's to log
            log.info("operator retry ignored", extra={**details, "reason": outcome.value})

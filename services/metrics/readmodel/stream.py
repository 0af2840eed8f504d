"""Live status changes: Postgres NOTIFY from the materialiser, fanned out per tenant.

The materialiser calls `notify` inside the transaction that changed the rows, so a
notification is sent exactly when (and only if) the change commits. Every metrics
instance LISTENs on one channel, so an SSE client connected to any instance sees the
changes any instance materialised. Subscribers are per tenant: a tenant's stream never
carries another tenant's posts, and a stream ends soon after its API key is revoked
(`live_events` asks again on a timer, busy or idle).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
from fastapi.sse import ServerSentEvent

from services.metrics.readmodel.models import StatusChange

if TYPE_CHECKING:
    from jobcast.db import Connection

log = logging.getLogger(__name__)

CHANNEL = "metrics_post_status"
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', payload) FROM unnest($1::text[]) AS payload"
# Postgres refuses NOTIFY payloads of 8000 bytes or more; messages are cut well below.
_MESSAGE_LIMIT = 1000


def status_payload(change: StatusChange) -> dict[str, Any]:
    """What an SSE client receives for a change (also the NOTIFY payload)."""
    return {
        "tenant_id": str(change.tenant_id),
        "post_key": change.post_key,
        "job_id": change.job_id,
        "platform": change.platform,
        "connection_id": str(change.connection_id),
        "action": change.action,
        "status": change.status,
        "previous_status": change.previous_status,
        "attempt": change.attempt,
        "at": change.at.isoformat(),
        "platform_post_id": change.platform_post_id,
        "permalink": change.permalink,
        "error_class": change.error_class,
        "error_code": change.error_code,
        "error_message": (change.error_message or "")[:_MESSAGE_LIMIT] or None,
        "next_attempt_at": change.next_attempt_at.isoformat() if change.next_attempt_at else None,
    }


async def notify(conn: Connection, changes: Sequence[StatusChange]) -> None:
    """Queue one notification per change; Postgres delivers them when the transaction commits."""
    if changes:
        await conn.execute(_NOTIFY, [json.dumps(status_payload(c)) for c in changes])


class Subscription:
    """One SSE client's queue of raw JSON payloads; `None` ends the stream."""

    def __init__(self, tenant_id: UUID, capacity: int) -> None:
        self.tenant_id = tenant_id
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(capacity)
        self.overflowed = False

    def offer(self, payload: str | None) -> None:
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            # A client that cannot keep up is cut off (it reconnects and re-reads the
            # current state) rather than holding memory without bound.
            self.overflowed = True
            self.close()

    def close(self) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            while self.queue.full():
                self.queue.get_nowait()
        self.queue.put_nowait(None)


class StatusHub:
    """LISTENs on the channel and hands each payload to its tenant's subscribers."""

    def __init__(self, dsn: str, capacity: int = 1000, reconnect_seconds: float = 1.0) -> None:
        self._dsn = dsn
        self._capacity = capacity
        self._reconnect_seconds = reconnect_seconds
        self._subscribers: dict[UUID, set[Subscription]] = {}
        self._listening = asyncio.Event()
        self._closed = False

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    @contextlib.asynccontextmanager
    async def subscribe(self, tenant_id: UUID) -> AsyncIterator[Subscription]:
        subscription = Subscription(tenant_id, self._capacity)
        if self._closed:
            subscription.close()
        self._subscribers.setdefault(tenant_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            group = self._subscribers.get(tenant_id)
            if group is not None:
                group.discard(subscription)
                if not group:
                    del self._subscribers[tenant_id]

    def deliver(self, payload: str) -> None:
        """Route one NOTIFY payload to the subscribers of its tenant."""
        try:
            tenant_id = UUID(json.loads(payload)["tenant_id"])
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable status notification dropped")
            return
        for subscription in list(self._subscribers.get(tenant_id, ())):
            subscription.offer(payload)

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop`, reconnecting if the connection drops; then end every stream."""
        try:
            while not stop.is_set():
                try:
                    await self._listen_once(stop)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    log.exception("status listener lost its connection; reconnecting")
                self._listening.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self._reconnect_seconds)
        finally:
            self._closed = True
            for group in list(self._subscribers.values()):
                for subscription in list(group):
                    subscription.close()

    async def _listen_once(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=10)
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())

        def on_notify(_c: object, _pid: int, _channel: str, payload: object) -> None:
            self.deliver(str(payload))

        try:
            await conn.add_listener(CHANNEL, on_notify)
            self._listening.set()
            waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(lost.wait())}
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        finally:
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)


_IDLE = object()


async def live_events(
    subscription: Subscription,
    *,
    keepalive_seconds: float,
    recheck_seconds: float,
    still_authorized: Callable[[], Awaitable[bool]],
) -> AsyncGenerator[ServerSentEvent, None]:
    """An SSE client's events: its tenant's changes, a keep-alive comment when idle, and
    the end of the stream when its key no longer authenticates.

    `still_authorized` is asked every `recheck_seconds` whether the stream carries on
    (events or not: a busy stream is checked as often as an idle one). A revoked key ends
    the stream with a `revoked` event; a failed check ends it without one (the client
    reconnects, and is authenticated again).
    """
    loop = asyncio.get_running_loop()
    yield ServerSentEvent(comment="connected", retry=3000)
    last_sent = loop.time()
    recheck_at = last_sent + recheck_seconds
    while True:
        wait = min(last_sent + keepalive_seconds, recheck_at) - loop.time()
        payload: object
        try:
            payload = await asyncio.wait_for(subscription.queue.get(), timeout=max(wait, 0))
        except TimeoutError:
            payload = _IDLE
        now = loop.time()
        if now >= recheck_at:
            try:
                authorized = await still_authorized()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                log.warning("could not check an SSE stream's API key again; ending the stream")
                return
            if not authorized:
                yield ServerSentEvent(event="revoked", data={"reconnect": False})
                return
            recheck_at = now + recheck_seconds
        if payload is _IDLE:
            if now >= last_sent + keepalive_seconds:
                yield ServerSentEvent(comment="keep-alive")
                last_sent = now
            continue
        if payload is None:
            if subscription.overflowed:
                yield ServerSentEvent(event="overflow", data={"reconnect": True})
            return
        yield ServerSentEvent(event="post.status", raw_data=str(payload))
        last_sent = now

"""The distributor's bulk path: the jobs a poll sees for the first time, planned, stored and
sent together.

A job that appears once in a poll as `job.created` is the common case, and the one that must
be fast (`JobEventHandler.handle_batch` picks them out; everything else goes one event at a
time through `JobEventHandler.handle`). Jobs are taken a chunk at a time: Postgres stores one
chunk and the producer sends it while the next one is planned.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from jobcast.kafka import OrderedProducer, OutgoingEvent, PendingSends, RecordMeta
from schemas.envelope import utcnow
from schemas.jobs import JobCreated
from schemas.publish import PublishStatus
from services.distributor import metrics
from services.distributor.dispatch import rendered_command_event
from services.distributor.domain import Skip, plan_posts
from services.distributor.repo import PlanningReads, planning_reads
from services.distributor.repo_posts import (
    NewPost,
    insert_posts,
    lock_jobs,
    save_new_jobs,
)
from services.distributor.reporting import StatusReport, skipped_post, status_events
from services.distributor.schedule import PostState, initial_state, is_paused, resolve_due

if TYPE_CHECKING:
    from jobcast.db import Connection

# Jobs planned per step of a batch while the step before is stored and sent.
_CHUNK_JOBS = 100

_WAITING_STATUS = {
    PostState.SCHEDULED: PublishStatus.SCHEDULED,
    PostState.AWAITING_APPROVAL: PublishStatus.AWAITING_APPROVAL,
    PostState.HELD: PublishStatus.HELD,
}


async def create_new_jobs(
    pool: asyncpg.Pool,
    producer: OrderedProducer,
    now: datetime,
    items: list[tuple[JobCreated, RecordMeta]],
) -> list[tuple[JobCreated, RecordMeta]]:
    """Plan jobs seen for the first time in one transaction, sending what is due now.

    Returns the events whose job was already known (replays, revisions): those need the
    per-job rules of `JobEventHandler.handle`.
    """
    async with pool.acquire() as conn, conn.transaction():
        known = await lock_jobs(conn, [(e.tenant_id, e.payload.job_id) for e, _ in items])
        fresh = [(e, m) for e, m in items if (e.tenant_id, e.payload.job_id) not in known]
        tenants = await planning_reads(conn, list({e.tenant_id for e, _ in fresh}))
        await _plan_and_send(conn, producer, fresh, tenants, now)
    return [(e, m) for e, m in items if (e.tenant_id, e.payload.job_id) in known]


async def _plan_and_send(
    conn: Connection,
    producer: OrderedProducer,
    fresh: list[tuple[JobCreated, RecordMeta]],
    tenants: dict[UUID, PlanningReads],
    now: datetime,
) -> None:
    """Plan, store and send new jobs a chunk at a time, so that Postgres stores one
    chunk and the producer sends it while the next one is planned (two cores busy, not
    one after the other). Commands go first, then statuses; all before the commit."""
    writer = _Writer(conn)
    pending = PendingSends()
    reports: list[StatusReport] = []
    try:
        await writer.start(
            save_new_jobs(
                conn, [(e.tenant_id, e.payload.job_id, e.payload.revision) for e, _ in fresh]
            )
        )
        for start in range(0, len(fresh), _CHUNK_JOBS):
            owned: list[tuple[UUID, NewPost]] = []
            for event, meta in fresh[start : start + _CHUNK_JOBS]:
                correlation_id = meta.correlation_id or str(event.event_id)
                posts, statuses = _plan_first(event, tenants[event.tenant_id], correlation_id, now)
                owned += [(event.tenant_id, post) for post in posts]
                reports += statuses
            sent = await _store_and_render(writer, owned)
            await producer.enqueue(sent, pending)
        await writer.wait()
        await producer.enqueue(status_events(reports, now), pending)
        # Inside the transaction, as in `JobEventHandler._apply`: nothing is committed
        # unless everything was sent.
        await producer.wait(pending)
    finally:
        await writer.settle()


def _plan_first(
    event: JobCreated, tenant: PlanningReads, correlation_id: str, now: datetime
) -> tuple[list[NewPost], list[StatusReport]]:
    """A new job's posts (sent at once when due now and not paused), and the status of
    each connection that is skipped or whose post waits (scheduled, approval, held)."""
    tenant_id, job, profile = event.tenant_id, event.payload, tenant.profile
    due = max(now, resolve_due(job.publish_at, job.timezone, now))
    posts: list[NewPost] = []
    reports: list[StatusReport] = []
    for item in plan_posts(tenant_id, job, tenant.connections, profile):
        if isinstance(item, Skip):
            metrics.SKIPS.labels(platform=item.connection.platform.value).inc()
            ref = skipped_post(tenant_id, item, job.job_id, job.revision)
            reports.append(
                StatusReport(tenant_id, ref, PublishStatus.SKIPPED, correlation_id, item.reason)
            )
            continue
        state = initial_state(require_approval=profile.require_approval)
        if state is PostState.SCHEDULED and due <= now:
            state = PostState.HELD if is_paused(tenant.paused, item.platform) else PostState.SENT
        sent_at = now if state is PostState.SENT else None
        posts.append(NewPost(item, state, due, correlation_id, sent_at))
        if (status := _WAITING_STATUS.get(state)) is not None:
            reports.append(StatusReport(tenant_id, item, status, correlation_id, due_at=due))
    return posts, reports


class _Writer:
    """Statements on one connection, one at a time, each running while the caller goes on
    (asyncpg takes one statement per connection at a time)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._running: asyncio.Task[object] | None = None

    async def start(self, statement: Coroutine[Any, Any, object]) -> None:
        """Wait for the previous statement, then send `statement` to Postgres."""
        try:
            await self.wait()
        except BaseException:
            statement.close()  # never to run: say so, rather than warn it was not awaited
            raise
        self._running = asyncio.create_task(statement)
        await asyncio.sleep(0)  # let it reach the server before the caller takes the CPU

    async def wait(self) -> None:
        """Wait for the running statement; raises what it raised."""
        running, self._running = self._running, None
        if running is not None:
            await running

    async def settle(self) -> None:
        """On the way out, even after an error: nothing may still run on the connection."""
        running, self._running = self._running, None
        if running is not None:
            await asyncio.gather(running, return_exceptions=True)


async def _store_and_render(
    writer: _Writer, owned: list[tuple[UUID, NewPost]]
) -> list[OutgoingEvent]:
    """Start storing new posts; return the commands of those sent now, each serialized
    once (the stored command and the event's payload are the same JSON)."""
    occurred_at = utcnow()
    commands_json = [post.command.model_dump_json() for _, post in owned]
    # One statement for all tenants: a poll at a moderate rate holds a job or two of each.
    await writer.start(insert_posts(writer.conn, owned, commands_json))
    _count_planned([post for _, post in owned])
    return [
        rendered_command_event(
            tenant_id, post.command, command_json, post.correlation_id, occurred_at
        )
        for (tenant_id, post), command_json in zip(owned, commands_json, strict=True)
        if post.state is PostState.SENT
    ]


def _count_planned(posts: list[NewPost]) -> None:
    # One increment per kind of post, not per post: a batch holds thousands alike.
    kinds = Counter((p.command.platform.value, p.command.action.value, p.state) for p in posts)
    for (platform, action, state), count in kinds.items():
        metrics.POSTS_PLANNED.labels(platform=platform, action=action, state=state).inc(count)

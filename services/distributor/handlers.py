"""The distributor's subscribers: job events, connection changes and operator commands."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg

from jobcast.kafka import OrderedProducer, OutgoingEvent, PendingSends, RecordMeta
from schemas.connections import ConnectionEvent, ConnectionStatusChanged
from schemas.envelope import utcnow
from schemas.jobs import JobClosed, JobCreated, JobEvent
from schemas.operator import OperatorAction, OperatorCommandIssued
from schemas.publish import PublishAction, PublishCommand, PublishStatus, make_post_key
from services.distributor import metrics
from services.distributor.clock import Clock
from services.distributor.dispatch import Dispatcher, rendered_command_event
from services.distributor.domain import Skip, plan_posts
from services.distributor.lifecycle import Changes, on_close, on_update
from services.distributor.posts import (
    NewPost,
    StoredPost,
    commands_of,
    insert_posts,
    lock_job,
    lock_jobs,
    move_posts,
    pause,
    paused_scopes,
    posts_of_job,
    resume,
    save_job,
    save_new_jobs,
)
from services.distributor.profile import TenantProfile, get_profile
from services.distributor.repo import Connection as TenantConnection
from services.distributor.repo import list_connections, set_connection_status
from services.distributor.reporting import PostRef, StatusReport, status_events
from services.distributor.schedule import (
    PENDING,
    PostState,
    initial_state,
    is_paused,
    resolve_due,
)

if TYPE_CHECKING:
    from jobcast.db import Connection

log = logging.getLogger(__name__)

# Connections that take part in planning: active ones get posts, the rest a skip with reason.
_PLANNED_STATUSES = frozenset({"active", "needs_reconnect"})


class _PlanHandler:
    """What every handler that changes planned posts works with."""

    def __init__(
        self, pool: asyncpg.Pool, producer: OrderedProducer, dispatcher: Dispatcher, clock: Clock
    ) -> None:
        self._pool = pool
        self._producer = producer
        self._dispatcher = dispatcher
        self._clock = clock


class JobEventHandler(_PlanHandler):
    """Plans, replaces, edits and takes down a job's posts as its events arrive.

    One transaction per event, with the job's row locked: replays and redeliveries find
    the revision already applied (or the post keys already planned) and change nothing.
    """

    async def handle_batch(self, items: list[tuple[JobEvent, RecordMeta]]) -> None:
        """A poll's worth of events: first sightings of jobs in bulk, the rest one by one.

        A job that appears once in the batch as `job.created` is the common case (and the
        one that must be fast); anything else keeps its order by going through `handle`.
        """
        per_job = Counter((e.tenant_id, e.payload.job_id) for e, _ in items)
        bulk = [
            (e, m)
            for e, m in items
            if isinstance(e, JobCreated) and per_job[(e.tenant_id, e.payload.job_id)] == 1
        ]
        in_bulk = {id(e) for e, _ in bulk}
        leftovers = await self._create_many(bulk) if bulk else []
        for event, meta in [*leftovers, *((e, m) for e, m in items if id(e) not in in_bulk)]:
            await self.handle(event, meta)

    async def _create_many(
        self, items: list[tuple[JobCreated, RecordMeta]]
    ) -> list[tuple[JobCreated, RecordMeta]]:
        """Plan jobs seen for the first time in one transaction, sending what is due now.

        Returns the events whose job was already known (replays, revisions): those need the
        per-job rules of `handle`.
        """
        now = self._clock.now()
        async with self._pool.acquire() as conn, conn.transaction():
            known = await lock_jobs(conn, [(e.tenant_id, e.payload.job_id) for e, _ in items])
            fresh = [(e, m) for e, m in items if (e.tenant_id, e.payload.job_id) not in known]
            tenants = await _tenants_of(conn, list({e.tenant_id for e, _ in fresh}))
            await self._plan_and_send(conn, fresh, tenants, now)
        return [(e, m) for e, m in items if (e.tenant_id, e.payload.job_id) in known]

    async def _plan_and_send(
        self,
        conn: Connection,
        fresh: list[tuple[JobCreated, RecordMeta]],
        tenants: dict[UUID, _Tenant],
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
                by_tenant: dict[UUID, list[NewPost]] = defaultdict(list)
                for event, meta in fresh[start : start + _CHUNK_JOBS]:
                    correlation_id = meta.correlation_id or str(event.event_id)
                    posts, statuses = _plan_first(
                        event, tenants[event.tenant_id], correlation_id, now
                    )
                    by_tenant[event.tenant_id] += posts
                    reports += statuses
                sent = await _store_and_render(writer, by_tenant)
                await self._producer.enqueue(sent, pending)
            await writer.wait()
            await self._producer.enqueue(status_events(reports, now), pending)
            # Inside the transaction: see `_apply`.
            await self._producer.wait(pending)
        finally:
            await writer.settle()

    async def handle(self, event: JobEvent, meta: RecordMeta) -> None:
        correlation_id = meta.correlation_id or str(event.event_id)
        tenant_id, job_id = event.tenant_id, event.payload.job_id
        async with self._pool.acquire() as conn, conn.transaction():
            known = await lock_job(conn, tenant_id, job_id)
            if known is not None and known.closed:
                log.info("event for a closed job ignored", extra=_about(event))
                return
            now = self._clock.now()
            profile = await get_profile(conn, tenant_id)
            if isinstance(event, JobClosed):
                revision = known.revision if known else 1
                await save_job(conn, tenant_id, job_id, revision, closed=True)
                rows = await posts_of_job(conn, tenant_id, job_id)
                sent = [r.post_key for r in rows if r.state is PostState.SENT]
                changes = on_close(
                    tenant_id,
                    job_id,
                    revision=revision,
                    rows=rows,
                    commands=await commands_of(conn, sent),
                    reason=event.payload.reason,
                )
                due = now
            else:
                job = event.payload
                if known is not None and known.revision >= job.revision:
                    log.info("job revision already applied; ignored", extra=_about(event))
                    return
                connections = await _planned_connections(conn, tenant_id)
                plan = plan_posts(tenant_id, job, connections, profile)
                await save_job(conn, tenant_id, job_id, job.revision)
                if known is None:
                    changes = Changes(
                        plan=[p for p in plan if isinstance(p, PublishCommand)],
                        skips=[p for p in plan if isinstance(p, Skip)],
                    )
                else:
                    changes = on_update(
                        tenant_id,
                        await posts_of_job(conn, tenant_id, job_id),
                        plan,
                        edit_live_posts=profile.update_policy == "edit",
                    )
                due = max(now, resolve_due(job.publish_at, job.timezone, now))
                revision = job.revision
            await self._apply(
                conn,
                tenant_id,
                job=(job_id, revision),
                changes=changes,
                due=due,
                profile=profile,
                correlation_id=correlation_id,
                now=now,
            )
        self._dispatcher.kick()

    async def _apply(
        self,
        conn: Connection,
        tenant_id: UUID,
        *,
        job: tuple[str, int],
        changes: Changes,
        due: datetime,
        profile: TenantProfile,
        correlation_id: str,
        now: datetime,
    ) -> None:
        job_id, revision = job
        reports: list[StatusReport] = []
        by_reason: dict[str, list[str]] = defaultdict(list)
        for cancel in changes.cancel:
            by_reason[cancel.reason].append(cancel.post_key)
        for reason, keys in by_reason.items():
            for post in await move_posts(
                conn,
                tenant_id,
                to=PostState.CANCELLED,
                from_states=list(PENDING),
                post_keys=keys,
                reason=reason,
            ):
                reports.append(_report(post, PublishStatus.CANCELLED, reason))
        planned = [_new_post(c, due, now, profile, correlation_id) for c in changes.plan]
        inserted = await insert_posts(conn, tenant_id, planned)
        for new in planned:
            if new.command.post_key not in inserted:
                continue  # planned by an earlier delivery of this event
            command = new.command
            metrics.POSTS_PLANNED.labels(
                platform=command.platform.value, action=command.action.value, state=new.state
            ).inc()
            if new.state is PostState.AWAITING_APPROVAL:
                reports.append(
                    StatusReport(
                        tenant_id,
                        command,
                        PublishStatus.AWAITING_APPROVAL,
                        correlation_id,
                        due_at=new.due_at,
                    )
                )
            elif new.due_at > now:
                reports.append(
                    StatusReport(
                        tenant_id,
                        command,
                        PublishStatus.SCHEDULED,
                        correlation_id,
                        due_at=new.due_at,
                    )
                )
        for skip in changes.skips:
            metrics.SKIPS.labels(platform=skip.connection.platform.value).inc()
            reports.append(
                StatusReport(
                    tenant_id,
                    _skipped_post(tenant_id, skip, job_id, revision),
                    PublishStatus.SKIPPED,
                    correlation_id,
                    skip.reason,
                )
            )
        for edit, reason in changes.unsupported_edits:
            reports.append(
                StatusReport(tenant_id, edit, PublishStatus.SKIPPED, correlation_id, reason)
            )
        # Inside the transaction: if producing fails, nothing is committed and the event
        # is handled again; if the commit fails after producing, statuses repeat (harmless).
        await self._producer.send_all(status_events(reports, now))


# Jobs planned per step of a batch while the step before is stored and sent.
_CHUNK_JOBS = 100

_WAITING_STATUS = {
    PostState.SCHEDULED: PublishStatus.SCHEDULED,
    PostState.AWAITING_APPROVAL: PublishStatus.AWAITING_APPROVAL,
    PostState.HELD: PublishStatus.HELD,
}


@dataclass(frozen=True, slots=True)
class _Tenant:
    """What planning a tenant's new jobs reads, once per batch."""

    profile: TenantProfile
    connections: list[TenantConnection]
    paused: frozenset[str]


async def _tenants_of(conn: Connection, tenant_ids: list[UUID]) -> dict[UUID, _Tenant]:
    scopes = await paused_scopes(conn, tenant_ids)
    return {
        t: _Tenant(
            await get_profile(conn, t),
            await _planned_connections(conn, t),
            scopes.get(t, frozenset()),
        )
        for t in tenant_ids
    }


def _plan_first(
    event: JobCreated, tenant: _Tenant, correlation_id: str, now: datetime
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
            ref = _skipped_post(tenant_id, item, job.job_id, job.revision)
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
    writer: _Writer, by_tenant: dict[UUID, list[NewPost]]
) -> list[OutgoingEvent]:
    """Start storing new posts; return the commands of those sent now, each serialized
    once (the stored command and the event's payload are the same JSON)."""
    sent: list[OutgoingEvent] = []
    occurred_at = utcnow()
    for tenant_id, posts in by_tenant.items():
        commands_json = [post.command.model_dump_json() for post in posts]
        await writer.start(insert_posts(writer.conn, tenant_id, posts, commands_json))
        sent += [
            rendered_command_event(
                tenant_id, post.command, command_json, post.correlation_id, occurred_at
            )
            for post, command_json in zip(posts, commands_json, strict=True)
            if post.state is PostState.SENT
        ]
        _count_planned(posts)
    return sent


def _count_planned(posts: list[NewPost]) -> None:
    # One increment per kind of post, not per post: a batch holds thousands alike.
    kinds = Counter((p.command.platform.value, p.command.action.value, p.state) for p in posts)
    for (platform, action, state), count in kinds.items():
        metrics.POSTS_PLANNED.labels(platform=platform, action=action, state=state).inc(count)


async def _planned_connections(conn: Connection, tenant_id: UUID) -> list[TenantConnection]:
    return [c for c in await list_connections(conn, tenant_id) if c.status in _PLANNED_STATUSES]


def _skipped_post(tenant_id: UUID, skip: Skip, job_id: str, revision: int) -> PostRef:
    connection = skip.connection
    return PostRef(
        post_key=make_post_key(tenant_id, job_id, connection.connection_id, revision),
        action=PublishAction.PUBLISH,
        platform=connection.platform,
        connection_id=connection.connection_id,
        job_id=job_id,
    )


def _new_post(
    command: PublishCommand,
    due: datetime,
    now: datetime,
    profile: TenantProfile,
    correlation_id: str,
) -> NewPost:
    if command.action is PublishAction.DELETE:
        # Taking a closed job down waits for nobody (a pause still holds it when due).
        return NewPost(command, PostState.SCHEDULED, now, correlation_id)
    if command.action is PublishAction.EDIT:
        return NewPost(
            command,
            initial_state(require_approval=profile.require_approval),
            now,
            correlation_id,
        )
    return NewPost(
        command, initial_state(require_approval=profile.require_approval), due, correlation_id
    )


def _report(post: StoredPost, status: PublishStatus, reason: str = "") -> StatusReport:
    return StatusReport(
        post.tenant_id, post.command, status, post.correlation_id, reason, post.due_at
    )


def _about(event: JobEvent) -> dict[str, object]:
    return {
        "event_type": event.event_type,
        "job_id": event.payload.job_id,
        "event_id": str(event.event_id),
    }


class OperatorCommandHandler(_PlanHandler):
    """Cancel, approve, reject, pause and resume: the distributor's operator commands.

    A command whose target is in no state it applies to (already sent, unknown key) is
    logged and counted as `noop`; retry belongs to the publishers and is ignored here.
    """

    async def __call__(self, event: OperatorCommandIssued, meta: RecordMeta) -> None:
        command = event.payload
        if command.action is OperatorAction.RETRY:
            return
        tenant_id = event.tenant_id
        now = self._clock.now()
        reason = f"{_verb(command.action)} by {command.actor}" + (
            f": {command.reason}" if command.reason else ""
        )
        post_keys = [command.post_key] if command.post_key else None
        changed = 0
        async with self._pool.acquire() as conn, conn.transaction():
            if command.action in (OperatorAction.CANCEL, OperatorAction.REJECT):
                from_states = (
                    list(PENDING)
                    if command.action is OperatorAction.CANCEL
                    else [PostState.AWAITING_APPROVAL]
                )
                moved = await move_posts(
                    conn,
                    tenant_id,
                    to=PostState.CANCELLED,
                    from_states=from_states,
                    reason=reason,
                    post_keys=post_keys,
                    job_id=command.job_id,
                )
                await self._producer.send_all(
                    status_events([_report(p, PublishStatus.CANCELLED, reason) for p in moved], now)
                )
                changed = len(moved)
            elif command.action is OperatorAction.APPROVE:
                moved = await move_posts(
                    conn,
                    tenant_id,
                    to=PostState.SCHEDULED,
                    from_states=[PostState.AWAITING_APPROVAL],
                    reason=reason,
                    post_keys=post_keys,
                    job_id=command.job_id,
                )
                await self._producer.send_all(
                    status_events(
                        [_report(p, PublishStatus.SCHEDULED) for p in moved if p.due_at > now], now
                    )
                )
                changed = len(moved)
            elif command.action is OperatorAction.PAUSE:
                await pause(conn, tenant_id, command.platform, command.actor, command.reason)
                changed = 1
            elif command.action is OperatorAction.RESUME:
                changed = await resume(conn, tenant_id, command.platform)
        metrics.OPERATOR_COMMANDS.labels(
            action=command.action.value, outcome="applied" if changed else "noop"
        ).inc()
        log.info(
            "operator command applied" if changed else "operator command changed nothing",
            extra={
                "action": command.action.value,
                "actor": command.actor,
                "post_key": command.post_key,
                "job_id": command.job_id,
                "changed": changed,
            },
        )
        self._dispatcher.kick()


def _verb(action: OperatorAction) -> str:
    return {
        OperatorAction.CANCEL: "cancelled",
        OperatorAction.APPROVE: "approved",
        OperatorAction.REJECT: "rejected",
        OperatorAction.PAUSE: "paused",
        OperatorAction.RESUME: "resumed",
        OperatorAction.RETRY: "retried",
    }[action]


class ConnectionEventHandler:
    """Honours connection state reported by the publishers (e.g. a dead token)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def __call__(self, event: ConnectionEvent, meta: RecordMeta) -> None:
        """Apply the new status; later jobs skip a connection that needs reconnecting."""
        if not isinstance(event, ConnectionStatusChanged):
            return  # `connection.expiring` is a warning for people; nothing to apply
        change = event.payload
        found = await set_connection_status(
            self._pool,
            change.connection_id,
            event.tenant_id,
            change.status.value,
            as_of=event.occurred_at,  # a change older than the row's is stale
        )
        log.warning(
            "connection status changed" if found else "status change not applied (stale/unknown)",
            extra={"connection_id": str(change.connection_id), "status": change.status.value},
        )

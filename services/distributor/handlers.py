"""The distributor's subscribers: job events, connection changes and operator commands."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from jobcast.kafka import OrderedProducer, RecordMeta
from schemas.connections import ConnectionEvent, ConnectionStatusChanged
from schemas.jobs import JobClosed, JobCreated, JobEvent
from schemas.operator import OperatorAction, OperatorCommandIssued
from schemas.publish import PublishAction, PublishCommand, PublishStatus
from services.distributor import metrics
from services.distributor.bulk import create_new_jobs
from services.distributor.clock import Clock
from services.distributor.dispatch import Dispatcher
from services.distributor.domain import Skip, plan_posts
from services.distributor.lifecycle import Changes, on_close, on_update
from services.distributor.models import TenantProfile
from services.distributor.repo import planned_connections, set_connection_status
from services.distributor.repo_posts import (
    NewPost,
    StoredPost,
    commands_of,
    insert_posts,
    lock_job,
    move_posts,
    pause,
    posts_of_job,
    resume,
    save_job,
)
from services.distributor.repo_profiles import get_profile
from services.distributor.reporting import StatusReport, skipped_post, status_events
from services.distributor.schedule import (
    PENDING,
    PostState,
    initial_state,
    resolve_due,
)

if TYPE_CHECKING:
    from jobcast.db import Connection

log = logging.getLogger(__name__)


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
        leftovers = (
            await create_new_jobs(self._pool, self._producer, self._clock.now(), bulk)
            if bulk
            else []
        )
        for event, meta in [*leftovers, *((e, m) for e, m in items if id(e) not in in_bulk)]:
            await self.handle(event, meta)

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
                connections = await planned_connections(conn, tenant_id)
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
        inserted = await insert_posts(conn, [(tenant_id, post) for post in planned])
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
                    skipped_post(tenant_id, skip, job_id, revision),
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

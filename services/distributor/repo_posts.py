"""SQL of the distributor's plan: jobs, planned posts and pauses (schema `distributor`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

import asyncpg

from schemas.platforms import Platform
from schemas.publish import PublishAction, PublishCommand
from services.distributor.lifecycle import PlannedPost
from services.distributor.schedule import ALL_PLATFORMS, PostState

if TYPE_CHECKING:
    from jobcast.db import Connection


@dataclass(frozen=True, slots=True)
class KnownJob:
    revision: int
    closed: bool


@dataclass(frozen=True, slots=True)
class NewPost:
    command: PublishCommand
    state: PostState
    due_at: datetime
    correlation_id: str
    sent_at: datetime | None = None  # set when planned and sent in one step


@dataclass(frozen=True, slots=True)
class StoredPost:
    """A row with its command: what is sent when it fires, and what status events name."""

    tenant_id: UUID
    command: PublishCommand
    state: PostState
    due_at: datetime
    correlation_id: str

    @property
    def post_key(self) -> str:
        return self.command.post_key


_STORED = "tenant_id, command, state, due_at, correlation_id"


def _stored(row: asyncpg.Record) -> StoredPost:
    return StoredPost(
        row["tenant_id"],
        PublishCommand.model_validate_json(row["command"]),
        PostState(row["state"]),
        row["due_at"],
        row["correlation_id"],
    )


async def lock_job(conn: Connection, tenant_id: UUID, job_id: str) -> KnownJob | None:
    """What is known of a job, locked until the transaction ends (one writer per job)."""
    row = await conn.fetchrow(
        """SELECT revision, closed_at IS NOT NULL AS closed FROM distributor.jobs
           WHERE tenant_id = $1 AND job_id = $2 FOR UPDATE""",
        tenant_id,
        job_id,
    )
    return KnownJob(row["revision"], row["closed"]) if row else None


async def lock_jobs(
    conn: Connection, keys: Sequence[tuple[UUID, str]]
) -> dict[tuple[UUID, str], KnownJob]:
    """`lock_job` for many jobs in one statement (locked in a stable order: no deadlocks)."""
    rows = await conn.fetch(
        """SELECT j.tenant_id, j.job_id, j.revision, j.closed_at IS NOT NULL AS closed
           FROM distributor.jobs j
           JOIN unnest($1::uuid[], $2::text[]) AS k(tenant_id, job_id) USING (tenant_id, job_id)
           ORDER BY j.tenant_id, j.job_id FOR UPDATE OF j""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["tenant_id"], r["job_id"]): KnownJob(r["revision"], r["closed"]) for r in rows}


async def save_new_jobs(conn: Connection, jobs: Sequence[tuple[UUID, str, int]]) -> None:
    """Record first revisions of jobs not seen before (a concurrent first wins, harmlessly)."""
    await conn.execute(
        """INSERT INTO distributor.jobs (tenant_id, job_id, revision)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[])
           ON CONFLICT (tenant_id, job_id) DO NOTHING""",
        [j[0] for j in jobs],
        [j[1] for j in jobs],
        [j[2] for j in jobs],
    )


async def save_job(
    conn: Connection, tenant_id: UUID, job_id: str, revision: int, *, closed: bool = False
) -> None:
    await conn.execute(
        """INSERT INTO distributor.jobs (tenant_id, job_id, revision, closed_at)
           VALUES ($1, $2, $3, CASE WHEN $4 THEN now() END)
           ON CONFLICT (tenant_id, job_id) DO UPDATE
              SET revision = GREATEST(distributor.jobs.revision, EXCLUDED.revision),
                  closed_at = COALESCE(distributor.jobs.closed_at, EXCLUDED.closed_at),
                  updated_at = now()""",
        tenant_id,
        job_id,
        revision,
        closed,
    )


async def posts_of_job(conn: Connection, tenant_id: UUID, job_id: str) -> list[PlannedPost]:
    """A job's posts, locked until the transaction ends. The lock waits for a timer pass
    that is sending one of them: read without it, a post being sent would still look
    pending, and an update would plan a replacement for it (posted twice) or a close would
    cancel it instead of deleting it (left live)."""
    rows = await conn.fetch(
        """SELECT post_key, connection_id, platform, action, revision, state, due_at
           FROM distributor.posts WHERE tenant_id = $1 AND job_id = $2 ORDER BY seq
           FOR UPDATE""",
        tenant_id,
        job_id,
    )
    return [
        PlannedPost(
            r["post_key"],
            r["connection_id"],
            Platform(r["platform"]),
            PublishAction(r["action"]),
            r["revision"],
            PostState(r["state"]),
            r["due_at"],
        )
        for r in rows
    ]


async def commands_of(conn: Connection, post_keys: Sequence[str]) -> dict[str, PublishCommand]:
    rows = await conn.fetch(
        "SELECT post_key, command FROM distributor.posts WHERE post_key = ANY($1::text[])",
        list(post_keys),
    )
    return {r["post_key"]: PublishCommand.model_validate_json(r["command"]) for r in rows}


async def insert_posts(
    conn: Connection,
    owned: Sequence[tuple[UUID, NewPost]],
    commands_json: Sequence[str] | None = None,
) -> set[str]:
    """Plan posts (each with its tenant), of any number of tenants in one statement; keys
    planned before (a replay) are left as they are. Returns new keys.

    `commands_json`, when the caller has it, is each post's command already serialized.
    """
    if not owned:
        return set()
    posts = [p for _, p in owned]
    if commands_json is None:
        commands_json = [p.command.model_dump_json() for p in posts]
    rows = await conn.fetch(
        """INSERT INTO distributor.posts (post_key, tenant_id, job_id, connection_id, platform,
                                          action, revision, state, due_at, command, correlation_id,
                                          sent_at)
           SELECT k, tn, j, c, p, a, r, s, d, cmd, corr, sent
           FROM unnest($1::text[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[],
                       $7::bigint[], $8::text[], $9::timestamptz[], $10::text[], $11::text[],
                       $12::timestamptz[])
                AS t(k, tn, j, c, p, a, r, s, d, cmd, corr, sent)
           ON CONFLICT (post_key) DO NOTHING
           RETURNING post_key""",
        [p.command.post_key for p in posts],
        [t for t, _ in owned],
        [p.command.job_id for p in posts],
        [p.command.connection_id for p in posts],
        [p.command.platform.value for p in posts],
        [p.command.action.value for p in posts],
        [p.command.revision for p in posts],
        [p.state.value for p in posts],
        [p.due_at for p in posts],
        list(commands_json),
        [p.correlation_id for p in posts],
        [p.sent_at for p in posts],
    )
    return {r["post_key"] for r in rows}


async def move_posts(
    conn: Connection,
    tenant_id: UUID,
    *,
    to: PostState,
    from_states: Sequence[PostState],
    post_keys: Sequence[str] | None = None,
    job_id: str | None = None,
    reason: str = "",
) -> list[StoredPost]:
    """Move a tenant's posts (by key or by job) that are in `from_states`; returns them."""
    rows = await conn.fetch(
        f"""UPDATE distributor.posts SET state = $2, reason = $3
            WHERE tenant_id = $1 AND state = ANY($4::text[])
              AND ($5::text[] IS NULL OR post_key = ANY($5::text[]))
              AND ($6::text IS NULL OR job_id = $6)
            RETURNING {_STORED}""",
        tenant_id,
        to.value,
        reason,
        [s.value for s in from_states],
        list(post_keys) if post_keys is not None else None,
        job_id,
    )
    return [_stored(r) for r in rows]


async def take_due(conn: Connection, now: datetime, limit: int) -> list[StoredPost]:
    """Due scheduled posts in firing order, locked (other instances skip them)."""
    rows = await conn.fetch(
        f"""SELECT {_STORED} FROM distributor.posts
            WHERE state = 'scheduled' AND due_at <= $1
            ORDER BY due_at, seq LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )
    return [_stored(r) for r in rows]


async def next_due(pool: asyncpg.Pool) -> datetime | None:
    """When the earliest scheduled post is due (None: no timer is set)."""
    due: datetime | None = await pool.fetchval(
        "SELECT min(due_at) FROM distributor.posts WHERE state = 'scheduled'"
    )
    return due


async def set_state(
    conn: Connection, post_keys: Sequence[str], state: PostState, *, sent_at: datetime | None
) -> None:
    await conn.execute(
        """UPDATE distributor.posts SET state = $2, sent_at = COALESCE($3, sent_at)
           WHERE post_key = ANY($1::text[])""",
        list(post_keys),
        state.value,
        sent_at,
    )


async def pending_counts(pool: asyncpg.Pool) -> dict[PostState, int]:
    rows = await pool.fetch(
        """SELECT state, count(*) AS n FROM distributor.posts
           WHERE state IN ('scheduled', 'awaiting_approval', 'held') GROUP BY state"""
    )
    return {PostState(r["state"]): r["n"] for r in rows}


async def paused_scopes(conn: Connection, tenant_ids: Sequence[UUID]) -> dict[UUID, frozenset[str]]:
    rows = await conn.fetch(
        "SELECT tenant_id, scope FROM distributor.pauses WHERE tenant_id = ANY($1::uuid[])",
        list(tenant_ids),
    )
    scopes: dict[UUID, set[str]] = {}
    for r in rows:
        scopes.setdefault(r["tenant_id"], set()).add(r["scope"])
    return {tenant: frozenset(s) for tenant, s in scopes.items()}


async def pause(
    conn: Connection, tenant_id: UUID, platform: Platform | None, actor: str, reason: str
) -> None:
    await conn.execute(
        """INSERT INTO distributor.pauses (tenant_id, scope, actor, reason)
           VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, scope) DO NOTHING""",
        tenant_id,
        platform.value if platform else ALL_PLATFORMS,
        actor,
        reason,
    )


async def resume(conn: Connection, tenant_id: UUID, platform: Platform | None) -> int:
    """Lift a pause and put held posts that no other pause covers back on the schedule.

    They keep their due times, and the timer fires them in (due_at, seq) order: the order
    they would have gone out in without the pause.
    """
    await conn.execute(
        "DELETE FROM distributor.pauses WHERE tenant_id = $1 AND scope = $2",
        tenant_id,
        platform.value if platform else ALL_PLATFORMS,
    )
    released = await conn.fetchval(
        """WITH released AS (
               UPDATE distributor.posts p SET state = 'scheduled'
               WHERE p.tenant_id = $1 AND p.state = 'held'
                 AND NOT EXISTS (SELECT 1 FROM distributor.pauses s
                                 WHERE s.tenant_id = p.tenant_id
                                   AND (s.scope = '*' OR s.scope = p.platform))
               RETURNING 1)
           SELECT count(*) FROM released""",
        tenant_id,
    )
    assert isinstance(released, int)
    return released

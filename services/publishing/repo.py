"""Publishing's SQL: the claim state machine (a connection's token is read by
`jobcast.graph.credentials`).

States of a post key: `in_progress` (someone holds the lease and may be calling the
platform), `retry_scheduled` / `unconfirmed` (a durable timer: `next_attempt_at`),
`done` (the final result event is stored and was emitted).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar
from uuid import UUID

import asyncpg

from jobcast.db import migrate, migrations_of
from schemas.publish import PublishCompleted, PublishRequested

if TYPE_CHECKING:
    from jobcast.db import Connection

T = TypeVar("T")


async def migrate_publishing(pool: asyncpg.Pool) -> None:
    """Create or update the claims table."""
    await migrate(pool, "publishing", migrations_of("services.publishing"))


class Kind(StrEnum):
    """What a claim row stands for."""

    POST = "post"
    FIRST_COMMENT = "first_comment"  # a post's first comment (see comments.py)


class Resume(StrEnum):
    """How a worker picks a key up."""

    FRESH = "fresh"  # nothing was sent to the platform for this attempt yet
    RECONCILE = "reconcile"  # an earlier holder may have called the platform: look first
    CONFIRM = "confirm"  # an unconfirmed post: look, never post


@dataclass(frozen=True, slots=True)
class Claim:
    """A key this worker now holds the lease on."""

    event: PublishRequested
    correlation_id: str | None
    attempt: int
    progress: dict[str, Any]
    claimed_at: datetime
    confirm_checks: int
    resume: Resume
    series_start: int = 1  # first attempt of the current series (an operator retry starts one)
    kind: Kind = Kind.POST


@dataclass(frozen=True, slots=True)
class Held:
    """A key someone else holds, or that waits on a timer: nothing to do now."""

    state: str


@dataclass(frozen=True, slots=True)
class Finished:
    """A key whose final result is stored: re-emit it."""

    result: PublishCompleted


_CLAIM_COLUMNS = (
    "command_event, correlation_id, attempt, progress, claimed_at, confirm_checks, series_start,"
    " kind"
)


def _claim(row: asyncpg.Record, resume: Resume) -> Claim:
    return Claim(
        event=PublishRequested.model_validate_json(row["command_event"]),
        correlation_id=row["correlation_id"],
        attempt=row["attempt"],
        progress=json.loads(row["progress"]),
        claimed_at=row["claimed_at"],
        confirm_checks=row["confirm_checks"],
        resume=resume,
        series_start=row["series_start"],
        kind=Kind(row["kind"]),
    )


async def _claim_taken(
    pool: asyncpg.Pool, post_key: str, lease_seconds: float
) -> Held | Finished | Claim:
    """A key that exists already: take it over if its lease ran out, else say who has it.

    A lease that ran out means its holder died mid-attempt: the key is taken over,
    but only to reconcile first — the platform may already have the post.
    """
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"""UPDATE publishing.post_claims
               SET lease_until = now() + make_interval(secs => $2), updated_at = now()
               WHERE post_key = $1 AND state = 'in_progress' AND lease_until < now()
               RETURNING {_CLAIM_COLUMNS}""",
            post_key,
            lease_seconds,
        )
        if row is not None:
            return _claim(row, Resume.RECONCILE)
        row = await conn.fetchrow(
            "SELECT state, result_event FROM publishing.post_claims WHERE post_key = $1",
            post_key,
        )
    assert row is not None  # claims are never deleted
    if row["state"] == "done" and row["result_event"] is not None:
        return Finished(PublishCompleted.model_validate_json(row["result_event"]))
    return Held(row["state"])


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """One command asking for its key (a batch item of `claim_many`)."""

    event: PublishRequested
    correlation_id: str | None
    lease_seconds: float


async def claim_many(
    pool: asyncpg.Pool, requests: Sequence[ClaimRequest]
) -> list[Claim | Held | Finished]:
    """Take each key in one atomic step, or say who has it: one statement for the fresh
    keys (the common case), then one look per key that was taken already."""
    commands = [r.event.payload for r in requests]
    rows = await pool.fetch(
        """INSERT INTO publishing.post_claims
               (post_key, platform, tenant_id, connection_id, job_id, state, attempt,
                command_event, correlation_id, lease_until)
           SELECT k, p, t, c, j, 'in_progress', 1, e::jsonb, r, now() + make_interval(secs => l)
           FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::text[],
                       $7::text[], $8::float8[]) AS u(k, p, t, c, j, e, r, l)
           ON CONFLICT (post_key) DO NOTHING
           RETURNING post_key, claimed_at""",
        [c.post_key for c in commands],
        [c.platform.value for c in commands],
        [r.event.tenant_id for r in requests],
        [c.connection_id for c in commands],
        [c.job_id for c in commands],
        [r.event.model_dump_json() for r in requests],
        [r.correlation_id for r in requests],
        [r.lease_seconds for r in requests],
    )
    fresh = {row["post_key"]: row for row in rows}

    async def outcome(request: ClaimRequest, post_key: str) -> Claim | Held | Finished:
        row = fresh.pop(post_key, None)  # a key twice in one batch: the first one has it
        if row is not None:
            # Just inserted: everything but the time is what we sent, no need to read it back.
            return Claim(
                request.event, request.correlation_id, attempt=1, progress={},
                claimed_at=row["claimed_at"], confirm_checks=0, resume=Resume.FRESH,
            )  # fmt: skip
        return await _claim_taken(pool, post_key, request.lease_seconds)

    # Replays meet many taken keys at once: look them up side by side.
    return list(
        await asyncio.gather(
            *(outcome(r, c.post_key) for r, c in zip(requests, commands, strict=True))
        )
    )


async def take_due(
    pool: asyncpg.Pool, platform: str, limit: int, lease_seconds: float
) -> list[Claim]:
    """Lease the keys whose timer is due, and those whose holder's lease ran out.

    SKIP LOCKED lets several publisher instances share the timers without waiting on
    each other; the lease keeps a key with one of them.
    """
    rows = await pool.fetch(
        f"""WITH due AS (
               SELECT post_key, state AS was FROM publishing.post_claims
               WHERE platform = $1 AND (
                   (state IN ('retry_scheduled', 'unconfirmed') AND next_attempt_at <= now())
                   OR (state = 'in_progress' AND lease_until < now()))
               ORDER BY COALESCE(next_attempt_at, lease_until)
               LIMIT $2
               FOR UPDATE SKIP LOCKED)
           UPDATE publishing.post_claims c
           SET state = 'in_progress', next_attempt_at = NULL, updated_at = now(),
               lease_until = now() + make_interval(secs => $3)
           FROM due WHERE c.post_key = due.post_key
           RETURNING due.was, {_CLAIM_COLUMNS}""",
        platform,
        limit,
        lease_seconds,
    )
    resumes = {"retry_scheduled": Resume.FRESH, "unconfirmed": Resume.CONFIRM}
    return [_claim(r, resumes.get(r["was"], Resume.RECONCILE)) for r in rows]


@dataclass(frozen=True, slots=True)
class Progress:
    """A key's checkpoint (a batch item of `save_progress_many`)."""

    post_key: str
    progress: dict[str, Any]


async def save_progress_many(pool: asyncpg.Pool, checkpoints: Sequence[Progress]) -> list[None]:
    """Checkpoint what now exists on the platform, before the next irreversible call."""
    for batch in _distinct_rounds(checkpoints, lambda c: c.post_key):
        await pool.execute(
            """UPDATE publishing.post_claims c SET progress = u.g::jsonb, updated_at = now()
               FROM unnest($1::text[], $2::text[]) AS u(k, g) WHERE c.post_key = u.k""",
            [c.post_key for c in batch],
            [json.dumps(c.progress) for c in batch],
        )
    return [None] * len(checkpoints)


def _distinct_rounds(items: Sequence[T], key: Callable[[T], str]) -> list[list[T]]:
    """Split `items` into rounds without a repeated key, keeping each key's order: an
    UPDATE ... FROM that meets a row twice applies only one of the two."""
    rounds: list[tuple[set[str], list[T]]] = []
    for item in items:
        k = key(item)
        for keys, batch in rounds:
            if k not in keys:
                keys.add(k)
                batch.append(item)
                break
        else:
            rounds.append(({k}, [item]))
    return [batch for _, batch in rounds]


@dataclass(frozen=True, slots=True)
class NewClaim:
    """A claim row born with an outcome (a post's first comment), due at once."""

    event: PublishRequested
    correlation_id: str | None
    kind: Kind
    progress: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One stored outcome (a batch item of `record_many`)."""

    result: PublishCompleted
    state: str
    attempt: int
    progress: dict[str, Any]
    confirm_checks: int = 0
    # Until Kafka has it, the timer loop sends it again. A final result of a command
    # from Kafka needs no resend: the command's record is redelivered if we die before
    # emitting, and finds the stored result (see `_claim_taken`).
    pending: bool = True
    # The claim row's key, when it is not the result's post key (a first comment's outcome
    # is a result about its post).
    key: str = ""
    follow_up: NewClaim | None = None  # stored in the same transaction
    # `result` as JSON, serialised once: stored here and sent to Kafka as the same bytes.
    rendered: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rendered", self.result.model_dump_json())
        if not self.key:
            object.__setattr__(self, "key", self.result.payload.post_key)


async def record_many(pool: asyncpg.Pool, outcomes: Sequence[Outcome]) -> list[None]:
    """Store outcomes with each key's next state (and timer), before they are emitted."""
    rounds = _distinct_rounds(outcomes, lambda o: o.key)
    follow_ups = [o.follow_up for o in outcomes if o.follow_up is not None]
    if not follow_ups:
        for batch in rounds:
            await _record(pool, batch)
        return [None] * len(outcomes)
    # A post's outcome and the claims it brings commit together, or neither does.
    async with pool.acquire() as conn, conn.transaction():
        for batch in rounds:
            await _record(conn, batch)
        await _insert_claims(conn, follow_ups)
    return [None] * len(outcomes)


async def _record(db: asyncpg.Pool | Connection, batch: Sequence[Outcome]) -> None:
    payloads = [o.result.payload for o in batch]
    await db.execute(
        """UPDATE publishing.post_claims c
           SET state = u.s, attempt = u.a, result_event = u.r::jsonb, progress = u.g::jsonb,
               result_pending = u.p,
               next_attempt_at = u.n, confirm_checks = u.cc, lease_until = NULL,
               platform_post_id = COALESCE(u.i, c.platform_post_id), updated_at = now()
           FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[],
                       $6::timestamptz[], $7::int[], $8::text[], $9::bool[])
                AS u(k, s, a, r, g, n, cc, i, p)
           WHERE c.post_key = u.k""",
        [o.key for o in batch],
        [o.state for o in batch],
        [o.attempt for o in batch],
        [o.rendered for o in batch],
        [json.dumps(o.progress) for o in batch],
        [p.next_attempt_at for p in payloads],
        [o.confirm_checks for o in batch],
        [p.platform_post_id for p in payloads],
        [o.pending for o in batch],
    )


async def _insert_claims(conn: Connection, claims: Sequence[NewClaim]) -> None:
    """New claim rows, due now; a key that exists already (a stored outcome written again)
    keeps its row."""
    commands = [c.event.payload for c in claims]
    await conn.execute(
        """INSERT INTO publishing.post_claims
               (post_key, platform, tenant_id, connection_id, job_id, state, attempt, kind,
                command_event, correlation_id, progress, next_attempt_at)
           SELECT k, p, t, c, j, 'retry_scheduled', 1, kd, e::jsonb, r, g::jsonb, now()
           FROM unnest($1::text[], $2::text[], $3::uuid[], $4::uuid[], $5::text[], $6::text[],
                       $7::text[], $8::text[], $9::text[]) AS u(k, p, t, c, j, kd, e, r, g)
           ON CONFLICT (post_key) DO NOTHING""",
        [c.post_key for c in commands],
        [c.platform.value for c in commands],
        [n.event.tenant_id for n in claims],
        [c.connection_id for c in commands],
        [c.job_id for c in commands],
        [n.kind.value for n in claims],
        [n.event.model_dump_json() for n in claims],
        [n.correlation_id for n in claims],
        [json.dumps(n.progress) for n in claims],
    )


@dataclass(frozen=True, slots=True)
class Sent:
    """A stored result that Kafka now has (a batch item of `mark_sent_many`)."""

    post_key: str
    event_id: UUID


async def mark_sent_many(pool: asyncpg.Pool, sent: Sequence[Sent]) -> list[None]:
    """Clear the pending flag of results Kafka has; a newer result stored meanwhile (another
    event id) stays pending until it is sent itself."""
    await pool.execute(
        """UPDATE publishing.post_claims c SET result_pending = false
           FROM unnest($1::text[], $2::text[]) AS u(k, e)
           WHERE c.post_key = u.k AND c.result_pending AND c.result_event ->> 'event_id' = u.e""",
        [s.post_key for s in sent],
        [str(s.event_id) for s in sent],
    )
    return [None] * len(sent)


@dataclass(frozen=True, slots=True)
class Unsent:
    result: PublishCompleted
    correlation_id: str | None
    key: str = ""  # the claim row's, when not the result's post key


async def unsent_results(
    pool: asyncpg.Pool, platform: str, older_than_seconds: float, limit: int
) -> list[Unsent]:
    """Stored results still not on Kafka after `older_than_seconds` (their sender died or
    Kafka refused them): to be sent again. Sending one twice is harmless (same event id)."""
    rows = await pool.fetch(
        """SELECT post_key, result_event, correlation_id FROM publishing.post_claims
           WHERE platform = $1 AND result_pending
             AND updated_at < now() - make_interval(secs => $2)
           ORDER BY updated_at LIMIT $3""",
        platform,
        older_than_seconds,
        limit,
    )
    return [
        Unsent(
            PublishCompleted.model_validate_json(r["result_event"]),
            r["correlation_id"],
            r["post_key"],
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class Original:
    """What an edit or delete targets: the post of another key, as far as it got."""

    platform_post_id: str | None
    settled: bool  # no further attempt will be made (done), so a missing id stays missing


async def original_of(pool: asyncpg.Pool, post_key: str) -> Original:
    """The post an edit or delete targets; an unknown key counts as settled, never posted."""
    row = await pool.fetchrow(
        "SELECT platform_post_id, state FROM publishing.post_claims WHERE post_key = $1",
        post_key,
    )
    if row is None:
        return Original(None, settled=True)
    post_id = row["platform_post_id"]
    return Original(str(post_id) if post_id is not None else None, row["state"] == "done")


class RetryRefused(StrEnum):
    """Why an operator's retry left a key alone."""

    UNKNOWN = "no such post for this tenant"
    OTHER_PLATFORM = "the post belongs to the other publisher"
    ALREADY_APPLIED = "this retry command was applied before"
    NOT_FAILED = "the post is not in a failed state"
    NO_COMMAND = "the claim predates stored commands, so it cannot be rebuilt"


@dataclass(frozen=True, slots=True)
class Reopened:
    """A failed key put back on the timer: `attempt` is the first of the new series."""

    attempt: int


async def reopen_failed(
    pool: asyncpg.Pool, *, tenant_id: UUID, post_key: str, platform: str, command_id: UUID
) -> Reopened | RetryRefused:
    """Put a failed key back on its timer, due now, for a fresh series of attempts.

    Only `done` keys whose stored result is `failed` qualify: `unconfirmed` may have
    posted and is never re-posted; posted, skipped and the rest are final. Progress is
    dropped (a failed attempt left nothing usable on the platform) and the attempt
    counter moves on. The stored command is what the timer runs again.
    """
    async with pool.acquire() as conn:
        attempt = await conn.fetchval(
            """UPDATE publishing.post_claims
               SET state = 'retry_scheduled', next_attempt_at = now(), lease_until = NULL,
                   attempt = attempt + 1, series_start = attempt + 1, confirm_checks = 0,
                   progress = '{}'::jsonb, updated_at = now(),
                   operator_retries = array_append(operator_retries, $4)
               WHERE post_key = $1 AND tenant_id = $2 AND platform = $3
                 AND state = 'done' AND result_event -> 'payload' ->> 'status' = 'failed'
                 AND command_event IS NOT NULL AND NOT ($4 = ANY (operator_retries))
               RETURNING attempt""",
            post_key,
            tenant_id,
            platform,
            command_id,
        )
        if attempt is not None:
            return Reopened(attempt)
        row = await conn.fetchrow(
            """SELECT platform, command_event IS NULL AS no_command,
                      $3 = ANY (operator_retries) AS applied
               FROM publishing.post_claims WHERE post_key = $1 AND tenant_id = $2""",
            post_key,
            tenant_id,
            command_id,
        )
    if row is None:
        return RetryRefused.UNKNOWN
    if row["platform"] != platform:
        return RetryRefused.OTHER_PLATFORM
    if row["applied"]:
        return RetryRefused.ALREADY_APPLIED
    if row["no_command"]:
        return RetryRefused.NO_COMMAND
    return RetryRefused.NOT_FAILED

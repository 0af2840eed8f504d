"""Chaos with a job lifecycle: some jobs are updated or closed moments after they are
created, so the follow-up races the job's own posting (still pending in the distributor,
being sent by a timer pass, or on its way through a publisher that is being killed).

What must hold besides "one post per (job, connection) or a reason":
- an updated job on Facebook shows the new text (edited, or replaced before it went out),
  or its edit ended with a reason;
- a closed job has no live Facebook post (cancelled before it went out, or deleted, or
  the delete ended with a reason); on Instagram, at most the one post (no API delete).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import asyncpg

from schemas import Platform
from tests.integration import helpers

# Read-model statuses of a post (any action) that will not change any more.
AT_REST = frozenset(
    {"posted", "failed", "skipped", "unconfirmed", "cancelled", "edited", "deleted",
     "cannot_delete"}
)  # fmt: skip
# How an edit or delete of a post that is out may end short of done: with a reason.
# (Not skipped: that says the post was never out, and Facebook can edit and delete.)
GAVE_UP = frozenset({"failed", "unconfirmed"})
NEW_TITLE = "Head chef"


class Fate(StrEnum):
    CREATED = "created"  # only created
    UPDATED = "updated"  # then job.updated (revision 2, a new title)
    CLOSED = "closed"  # then job.closed


def fate_of(index: int, update_every: int, close_every: int) -> Fate:
    """A job's fate by its number: every `update_every`th updated, every `close_every`th
    of the rest closed (0: none)."""
    if update_every and index % update_every == 1:
        return Fate.UPDATED
    if close_every and index % close_every == 3:
        return Fate.CLOSED
    return Fate.CREATED


def follow_up_event(job_id: str, fate: Fate) -> dict[str, Any]:
    """The event that follows `job.created` for a job of this fate (our own event id: a
    retried request is a repeat, not a new event)."""
    if fate is Fate.UPDATED:
        event = helpers.job_event(job_id, revision=2, title=f"{NEW_TITLE} {job_id}")
        event["event_type"] = "job.updated"
    elif fate is Fate.CLOSED:
        event = {"event_type": "job.closed", "payload": {"job_id": job_id, "reason": "filled"}}
    else:
        raise ValueError("a job that is only created has no follow-up")
    return {**event, "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{job_id}/{fate}"))}


async def unsettled(pool: asyncpg.Pool, tenant_ids: Sequence[uuid.UUID]) -> int:
    """Posts still on their way: planned but not sent, claimed but not finished, or sent
    without a final read-model row yet."""
    count = await pool.fetchval(
        """SELECT
             (SELECT count(*) FROM distributor.posts
               WHERE tenant_id = ANY($1::uuid[])
                 AND state IN ('scheduled', 'awaiting_approval', 'held'))
           + (SELECT count(*) FROM publishing.post_claims
               WHERE tenant_id = ANY($1::uuid[])
                 AND (state IN ('in_progress', 'retry_scheduled')
                      OR (state = 'unconfirmed' AND next_attempt_at IS NOT NULL)))
           + (SELECT count(*) FROM distributor.posts d
               WHERE d.tenant_id = ANY($1::uuid[]) AND d.state = 'sent'
                 AND NOT EXISTS (SELECT FROM metrics.job_posts m
                                  WHERE m.post_key = d.post_key
                                    AND m.status = ANY($2::text[])))""",
        list(tenant_ids),
        sorted(AT_REST),
    )
    return int(count)


@dataclass
class PairRows:
    """The read-model rows of one (job, connection), by action."""

    publish: list[asyncpg.Record] = field(default_factory=list)
    edit: asyncpg.Record | None = None  # one edit (revision 2) or one delete at most
    delete: asyncpg.Record | None = None

    def add(self, row: asyncpg.Record) -> None:
        if row["action"] == "publish":
            self.publish.append(row)
        elif row["action"] == "edit":
            self.edit = row
        else:
            self.delete = row

    def current_publish(self) -> tuple[asyncpg.Record | None, str | None]:
        """The publish row that stands (a revision replaced before it was sent is
        cancelled), and a problem if more than one stands."""
        # A skipped connection reports its skip once per revision; anything else stands
        # once (a replaced revision is cancelled, a sent one is edited, never re-posted).
        standing = [r for r in self.publish if r["status"] not in ("cancelled", "skipped")]
        if len(standing) > 1:
            return standing[0], f"{len(standing)} publish rows stand (one per revision?)"
        skipped = [r for r in self.publish if r["status"] == "skipped"]
        chosen = [*standing, *skipped, *self.publish]
        return (chosen[0] if chosen else None), None


def _said_why(row: asyncpg.Record) -> bool:
    return bool(row["error_message"] or row["error_class"])


def judge_follow_up(
    fate: Fate, platform: Platform, publish: asyncpg.Record, rows: PairRows, live: list[str]
) -> str | None:
    """What is wrong with how an updated or closed job's post ended (None: nothing)."""
    status = publish["status"]
    if status == "cancelled":
        if fate is not Fate.CLOSED:
            return "cancelled, yet the job was never closed"
        return f"cancelled, but {len(live)} on the platform" if live else None
    if status != "posted":
        return None  # never out: judged like any post
    # No edit (Instagram, Threads), no delete (Instagram): the one post stays as it is.
    if platform is Platform.INSTAGRAM or (platform is Platform.THREADS and fate is Fate.UPDATED):
        return None if len(live) == 1 else f"posted on {platform.value}, but {len(live)} there"
    if fate is Fate.UPDATED:
        return _change_problem(rows.edit, "edited", "edit") if NEW_TITLE not in live[0] else None
    return _after_close(rows, live)


def _after_close(rows: PairRows, live: list[str]) -> str | None:
    """A closed job's Facebook (Threads) post that was out: deleted, or the delete says why
    not."""
    if live:
        return _change_problem(rows.delete, "deleted", "delete")
    if rows.delete is None or rows.delete["status"] != "deleted":
        return "gone from the platform without a delete result"
    return None


def _change_problem(row: asyncpg.Record | None, done: str, verb: str) -> str | None:
    """What is wrong when the platform does not show an edit or delete (None: it ended
    with a reason, e.g. failed after its retries)."""
    if row is None:
        return f"the {verb} never reported a result"
    if row["status"] == done:
        return f"{verb} reported {done}, but the platform does not show it"
    if row["status"] in GAVE_UP and _said_why(row):
        return None
    why = f": {row['error_message']}" if row["error_message"] else " without a reason"
    return f"{verb} ended {row['status']}{why}"

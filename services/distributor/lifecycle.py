"""What a job's update or closure does to the posts already planned for it: pure rules.

The distributor keeps one row per post key (`distributor.posts`). A row is *pending*
until it is sent to a publisher, and *sent* afterwards; sent publishes may be live on the
platform, so they are edited or deleted, never posted again. Pending ones are simply
replaced or cancelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from schemas.platforms import Platform
from schemas.publish import PublishAction, PublishCommand, make_post_key
from services.distributor.domain import Skip
from services.distributor.schedule import PENDING, PostState


@dataclass(frozen=True, slots=True)
class PlannedPost:
    """A row of `distributor.posts`, without its command."""

    post_key: str
    connection_id: UUID
    platform: Platform
    action: PublishAction
    revision: int
    state: PostState
    due_at: datetime


@dataclass(frozen=True, slots=True)
class Cancel:
    post_key: str
    reason: str


@dataclass
class Changes:
    """What to do, in this order: cancel rows, plan new commands, report skips."""

    cancel: list[Cancel] = field(default_factory=list)
    plan: list[PublishCommand] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    # Edits the platform cannot make: reported as skipped results of the edit's key.
    unsupported_edits: list[tuple[PublishCommand, str]] = field(default_factory=list)


INSTAGRAM_NO_EDIT = "Instagram captions cannot be changed through the API; the post stays as it is"
THREADS_NO_EDIT = "Threads posts cannot be edited through the API; the post stays as it is"
# Platforms whose posts cannot be edited: why, as the edit's skipped result says it.
NO_EDIT = {Platform.INSTAGRAM: INSTAGRAM_NO_EDIT, Platform.THREADS: THREADS_NO_EDIT}


def _latest_publish(rows: list[PlannedPost], connection_id: UUID) -> PlannedPost | None:
    publishes = [
        r
        for r in rows
        if r.connection_id == connection_id
        and r.action is PublishAction.PUBLISH
        and r.state is not PostState.CANCELLED
    ]
    return max(publishes, key=lambda r: r.revision, default=None)


def _ever_planned(rows: list[PlannedPost], connection_id: UUID) -> bool:
    return any(r.connection_id == connection_id for r in rows)


def on_update(
    tenant_id: UUID,
    rows: list[PlannedPost],
    plan: list[PublishCommand | Skip],
    *,
    edit_live_posts: bool,
) -> Changes:
    """A new revision of a job: replace what is pending, edit what is out, post the rest.

    A connection whose earlier post was cancelled (by an operator, or rejected) is left
    alone: an update does not overturn a person's decision.
    """
    changes = Changes()
    for item in plan:
        connection_id = item.connection.connection_id if isinstance(item, Skip) else None
        if isinstance(item, PublishCommand):
            connection_id = item.connection_id
        assert connection_id is not None
        live = _latest_publish(rows, connection_id)
        if isinstance(item, Skip):
            if live is not None and live.state in PENDING:
                changes.cancel.append(Cancel(live.post_key, item.reason))
            if live is None or live.state in PENDING:
                changes.skips.append(item)
            continue
        if live is None:
            if not _ever_planned(rows, connection_id):
                changes.plan.append(item)
            continue
        if live.state in PENDING:
            changes.cancel.append(Cancel(live.post_key, f"superseded by revision {item.revision}"))
            changes.plan.append(item)
            continue
        if not edit_live_posts:
            continue
        edit = item.model_copy(
            update={
                "action": PublishAction.EDIT,
                "post_key": make_post_key(
                    tenant_id, item.job_id, connection_id, item.revision, PublishAction.EDIT
                ),
                "original_post_key": live.post_key,
            }
        )
        cannot = NO_EDIT.get(item.platform)
        if cannot is not None:
            changes.unsupported_edits.append((edit, cannot))
        else:
            changes.plan.append(edit)
    return changes


def on_close(
    tenant_id: UUID,
    job_id: str,
    *,
    revision: int,
    rows: list[PlannedPost],
    commands: dict[str, PublishCommand],
    reason: str,
) -> Changes:
    """A job closed or filled: cancel what is pending, ask publishers to delete what is out.

    `commands` holds the stored command of each sent publish (the delete reuses its
    account and content). Instagram deletes are sent too: the publisher answers with a
    clear `cannot_delete` when the platform does not allow it.
    """
    changes = Changes()
    why = f"job closed: {reason}" if reason else "job closed"
    for row in rows:
        if row.state in PENDING:
            changes.cancel.append(Cancel(row.post_key, why))
        elif (
            row.state is PostState.SENT
            and row.action is PublishAction.PUBLISH
            and row.post_key in commands
        ):
            original = commands[row.post_key]
            changes.plan.append(
                original.model_copy(
                    update={
                        "action": PublishAction.DELETE,
                        "post_key": make_post_key(
                            tenant_id, job_id, row.connection_id, revision, PublishAction.DELETE
                        ),
                        "revision": revision,
                        "original_post_key": row.post_key,
                    }
                )
            )
    return changes

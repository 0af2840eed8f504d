"""Meta's two-step publishing, shared by Instagram and Threads: a media container is made,
processed (IN_PROGRESS → FINISHED, or ERROR / EXPIRED), then published, within a
publishing limit counted over a moving 24 hours.

Waiting on media processing never holds a worker: after a short inline wait the attempt
is handed back with NotReadyError and resumed from the checkpointed container id later.
Over the publishing limit a post waits for the window to move; it does not fail.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from jobcast.graph.client import GraphClient, GraphError, read_permalink
from jobcast.platform_api import AmbiguousOutcomeError
from schemas.publish import MediaItem
from services.publishing.listing import Found, Listing, find_text
from services.publishing.posting import (
    Absent,
    Attempt,
    NotReadyError,
    Posted,
    Reconciliation,
    Undecided,
)

_QUOTA_RECHECK_SECONDS = 60.0
_QUOTA_MARGIN = 5
# What an attempt's progress holds of its containers; other keys (a first comment's post)
# outlive a failed container.
_CONTAINER_KEYS = ("container_id", "container_created", "children", "children_created")


@dataclass(frozen=True, slots=True)
class ContainerTiming:
    """How long to wait for Meta to process media (Meta: poll once a minute, ≤ 5 min)."""

    inline_wait_seconds: float = 3.0
    poll_interval_seconds: float = 1.0
    resume_after_seconds: float = 30.0
    give_up_after_seconds: float = 300.0
    quota_retry_seconds: float = 900.0


class ContainerFailedError(GraphError):
    """Meta could not process the media (container ERROR or EXPIRED): a new one is needed."""


@dataclass(frozen=True, slots=True)
class ContainerStatus:
    """How one platform reports a container's state.

    `fields`: what to ask for; `state_field`: the field holding IN_PROGRESS, FINISHED, ...;
    `failure`: Meta's reason as an error, from (state, the answer, every container waited
    on, the one that failed); `timeout_subcode`: the subcode a post that waited too long
    fails with (one a new container may cure)."""

    fields: str
    state_field: str
    failure: Callable[[str, dict[str, Any], list[str], str], ContainerFailedError]
    timeout_subcode: int


async def wait_until_finished(
    attempt: Attempt[GraphClient],
    container_ids: list[str],
    created_key: str,
    timing: ContainerTiming,
    status: ContainerStatus,
) -> None:
    """Poll the containers until each is FINISHED; one in ERROR or EXPIRED fails them all
    with Meta's reason (and the next try starts over with new containers). One already
    PUBLISHED means an earlier try published it: that is for reconciliation to find."""
    loop = asyncio.get_running_loop()
    inline_deadline = loop.time() + timing.inline_wait_seconds
    waiting = list(container_ids)
    while True:
        for container_id in list(waiting):
            answer = await attempt.api.call(
                "GET", container_id, attempt.token, params={"fields": status.fields}
            )
            state = answer.get(status.state_field)
            if state == "FINISHED":
                waiting.remove(container_id)
            elif state == "PUBLISHED":
                raise AmbiguousOutcomeError("container already published")
            elif state in ("ERROR", "EXPIRED"):
                forget_containers(attempt.progress)
                raise status.failure(str(state), answer, container_ids, container_id)
        if not waiting:
            return
        created = float(attempt.progress.get(created_key, time.time()))
        if time.time() - created > timing.give_up_after_seconds:
            forget_containers(attempt.progress)
            raise ContainerFailedError(
                "media still processing after the wait limit",
                code=None, subcode=status.timeout_subcode, http_status=200,
            )  # fmt: skip
        if loop.time() >= inline_deadline:
            raise NotReadyError("media processing", timing.resume_after_seconds)
        await asyncio.sleep(timing.poll_interval_seconds)


async def finished_children(
    attempt: Attempt[GraphClient],
    edge: str,
    fields_of: Callable[[MediaItem], dict[str, str]],
    timing: ContainerTiming,
    status: ContainerStatus,
) -> list[str]:
    """A carousel's item containers (`POST /{account}/{edge}` with `is_carousel_item`),
    created once (checkpointed), all FINISHED: Meta refuses a carousel of items that
    are not."""
    children = attempt.progress.get("children")
    if not isinstance(children, list):
        children = []
        for item in attempt.command.content.media:
            child = await attempt.api.call(
                "POST", f"{attempt.command.account_id}/{edge}", attempt.token,
                data={**fields_of(item), "is_carousel_item": "true"},
            )  # fmt: skip
            children.append(str(child["id"]))
        attempt.progress["children"] = children
        attempt.progress["children_created"] = time.time()
        await attempt.checkpoint()
    await wait_until_finished(attempt, children, "children_created", timing, status)
    return [str(child) for child in children]


async def published_container(
    attempt: Attempt[GraphClient], status: ContainerStatus
) -> str | Absent | Undecided:
    """What the attempt's container says of an ambiguous publish: its id when PUBLISHED
    (the post is then to be found); Absent when there is none (nothing could have been
    published) or it is not PUBLISHED (IN_PROGRESS / FINISHED: publishing resumes with it;
    ERROR / EXPIRED: forgotten, publishing starts over); Undecided when it cannot be read."""
    container_id = attempt.progress.get("container_id")
    if container_id is None:
        return Absent()
    try:
        answer = await attempt.api.call(
            "GET", str(container_id), attempt.token, params={"fields": status.fields}
        )
    except (GraphError, AmbiguousOutcomeError) as exc:
        return Undecided(f"could not read the container: {exc}")
    state = answer.get(status.state_field)
    if state in ("ERROR", "EXPIRED"):
        forget_containers(attempt.progress)
    return str(container_id) if state == "PUBLISHED" else Absent()


async def find_published(
    attempt: Attempt[GraphClient],
    status: ContainerStatus,
    listing: Listing,
    text: str,
    *,
    since: datetime | None,
) -> Found | Absent | Undecided:
    """No container: nothing could have been published. One not PUBLISHED: not published
    (publish resumes with it, or starts over after ERROR / EXPIRED). One PUBLISHED: ours is
    in `listing`, found by its text; not finding it there proves nothing."""
    published = await published_container(attempt, status)
    if not isinstance(published, str):
        return published
    found = await find_text(attempt, listing, text, since=since)
    if isinstance(found, Absent):
        return Undecided(f"container published but not found in {listing.what}")
    return found


async def reconcile_published(
    attempt: Attempt[GraphClient], status: ContainerStatus, listing: Listing
) -> Reconciliation:
    """An ambiguous publish reconciled: by the container, then our text in `listing` since
    the claim, with the read of the found post's permalink."""
    found = await find_published(
        attempt, status, listing, attempt.command.content.text, since=attempt.since
    )
    if not isinstance(found, Found):
        return found
    return Posted(
        found.entry_id, None,
        partial(read_permalink, attempt.api, found.entry_id, attempt.token, "permalink"),
    )  # fmt: skip


async def keep_container(attempt: Attempt[GraphClient], container_id: str) -> None:
    """Checkpoint a container just made, so no later try makes another."""
    attempt.progress["container_id"] = container_id
    attempt.progress["container_created"] = time.time()
    await attempt.checkpoint()


def made_by_this_try(attempt: Attempt[GraphClient]) -> bool:
    """Whether the attempt's container was made by this try (in `prepare` or `publish`),
    not an earlier one that could have published it already."""
    return float(attempt.progress.get("container_created", 0)) >= attempt.started_at


def forget_containers(progress: dict[str, Any]) -> None:
    """Drop the attempt's containers: the next try makes new ones."""
    for key in _CONTAINER_KEYS:
        progress.pop(key, None)


def item_label(container_ids: list[str], container_id: str) -> str:
    """`carousel item N ` when a carousel's item failed, else nothing."""
    if len(container_ids) < 2:
        return ""
    return f"carousel item {container_ids.index(container_id) + 1} "


@dataclass(frozen=True, slots=True)
class Quota:
    """One publishing limit: the edge that reports it and the fields of its count and total."""

    edge: str  # content_publishing_limit, threads_publishing_limit
    usage_field: str = "quota_usage"
    config_field: str = "config"
    what: str = "publishing quota"


class PublishingLimits:
    """Each account's room under its publishing limits, as Meta last reported it.

    Meta's count is read at most once a minute per account and limit, by one call however
    many of the account's posts are being prepared at that moment; between reads our own
    publishes are counted, keeping a margin so other publishers' posts are covered."""

    def __init__(self, retry_seconds: float) -> None:
        self._retry_seconds = retry_seconds
        # Per (account, edge + field): (room left by our count, when to ask Meta again).
        self._room: dict[tuple[str, str], tuple[int, float]] = {}
        # Reads under way, per key: the posts that need one meanwhile wait for it.
        self._reading: dict[tuple[str, str], asyncio.Task[tuple[int, int] | None]] = {}

    async def check(self, attempt: Attempt[GraphClient], quota: Quota) -> None:
        """NotReadyError when the account has reached the limit."""
        key = (attempt.command.account_id, f"{quota.edge}.{quota.usage_field}")
        left, recheck_at = self._room.get(key, (0, 0.0))
        if left > _QUOTA_MARGIN and time.monotonic() < recheck_at:
            return
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read(attempt, quota, key))
            self._reading[key] = reading
            reading.add_done_callback(lambda _: self._reading.pop(key, None))
        # Shielded: a post cancelled while it waits does not cancel the others' read.
        counted = await asyncio.shield(reading)
        if counted is not None and counted[0] >= counted[1]:
            usage, total = counted
            raise NotReadyError(
                f"{quota.what} reached ({usage}/{total} in 24 h)", self._retry_seconds
            )

    async def _read(
        self, attempt: Attempt[GraphClient], quota: Quota, key: tuple[str, str]
    ) -> tuple[int, int] | None:
        """Meta's (usage, total) for the limit, remembered as our room; None if not given."""
        limit = await attempt.api.call(
            "GET", f"{attempt.command.account_id}/{quota.edge}", attempt.token,
            params={"fields": f"{quota.usage_field},{quota.config_field}"},
        )  # fmt: skip
        counted = None
        for entry in limit.get("data", []):
            usage = entry.get(quota.usage_field, 0)
            total = (entry.get(quota.config_field) or {}).get("quota_total")
            if isinstance(total, int) and isinstance(usage, int):
                self._room[key] = (total - usage, time.monotonic() + _QUOTA_RECHECK_SECONDS)
                counted = (usage, total)
        return counted

    def spent(self, attempt: Attempt[GraphClient], quota: Quota) -> None:
        """One publish made against the limit."""
        key = (attempt.command.account_id, f"{quota.edge}.{quota.usage_field}")
        left, recheck_at = self._room.get(key, (0, 0.0))
        self._room[key] = (left - 1, recheck_at)

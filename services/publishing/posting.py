"""What a platform poster is given, and what it may answer.

A poster makes the calls for one platform. It never decides about retries: it
returns what happened, or raises PlatformError (its client's, e.g. GraphError) /
AmbiguousOutcomeError / NotReadyError, and the worker decides (see `worker.py`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import HttpUrl

from schemas.publish import PublishCommand

# The platform's API client a poster makes its calls with (the Graph client, LinkedIn's).
ApiT = TypeVar("ApiT")


# Reads a live post's permalink; a failed read gives None (the post stands either way).
PermalinkRead = Callable[[], Awaitable[HttpUrl | None]]


@dataclass(frozen=True, slots=True)
class Posted:
    """The post is live. Its permalink came with the platform's answer, or `read_permalink`
    learns it: the worker runs that read once the account's lane is free, since reading
    changes nothing on the platform and the account's next post need not wait for it."""

    platform_post_id: str
    permalink: HttpUrl | None
    read_permalink: PermalinkRead | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Absent:
    """Reconciliation proved the post is not on the platform: publishing is safe."""


@dataclass(frozen=True, slots=True)
class Undecided:
    """Reconciliation could not tell: the post stays unconfirmed."""

    reason: str


Reconciliation = Posted | Absent | Undecided


class NotReadyError(Exception):
    """Nothing failed, but the post cannot go out yet (media processing, quota window)."""

    def __init__(self, reason: str, retry_in_seconds: float) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_in_seconds = retry_in_seconds


@dataclass
class Attempt(Generic[ApiT]):
    """One try at one command. `progress` survives across tries (it is checkpointed)."""

    api: ApiT
    command: PublishCommand
    token: str
    progress: dict[str, Any]
    since: datetime  # when the key was first claimed: reconciliation looks no earlier
    checkpoint: Callable[[], Awaitable[None]]
    started_at: float = field(default_factory=time.time)  # this try's start, wall clock


class Poster(Protocol[ApiT]):
    """One platform's calls, made with its API client."""

    async def publish(self, attempt: Attempt[ApiT]) -> Posted:
        """Make the post (resuming from `attempt.progress`), with its permalink or the read
        of it."""
        ...

    async def reconcile(self, attempt: Attempt[ApiT]) -> Reconciliation:
        """Find out whether an earlier, ambiguous try already made the post."""
        ...

    async def edit(self, attempt: Attempt[ApiT], post_id: str) -> bool:
        """Replace the post's text; False if the platform cannot edit it."""
        ...

    async def delete(self, attempt: Attempt[ApiT], post_id: str) -> bool:
        """Take the post down; False if the platform cannot delete it."""
        ...

    async def comment(self, attempt: Attempt[ApiT], post_id: str, text: str) -> str:
        """Comment `text` on the live post; the comment's id."""
        ...

    async def find_comment(self, attempt: Attempt[ApiT], post_id: str, text: str) -> Reconciliation:
        """Whether an earlier, ambiguous try already made the comment."""
        ...


@runtime_checkable
class Preparing(Protocol[ApiT]):
    """A poster with work a new post needs before its turn in its account's order."""

    async def prepare(self, attempt: Attempt[ApiT]) -> None:
        """Do what `publish` would do first and nobody sees on the platform (an Instagram
        container), while the account's post before this one still goes out; checkpoint
        it in `attempt.progress`, so `publish` goes on from there."""
        ...

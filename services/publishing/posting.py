"""What a platform poster is given, and what it may answer.

A poster makes the calls for one platform. It never decides about retries: it
returns what happened, or raises GraphError / AmbiguousOutcomeError / NotReadyError,
and the worker decides (see `worker.py`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import HttpUrl

from jobcast.graph.client import GraphClient
from schemas.publish import PublishCommand


@dataclass(frozen=True, slots=True)
class Posted:
    platform_post_id: str
    permalink: HttpUrl | None


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
class Attempt:
    """One try at one command. `progress` survives across tries (it is checkpointed)."""

    graph: GraphClient
    command: PublishCommand
    token: str
    progress: dict[str, Any]
    since: datetime  # when the key was first claimed: reconciliation looks no earlier
    checkpoint: Callable[[], Awaitable[None]]


class Poster(Protocol):
    """One platform's calls."""

    async def publish(self, attempt: Attempt) -> Posted:
        """Make the post (resuming from `attempt.progress`) and read its permalink."""
        ...

    async def reconcile(self, attempt: Attempt) -> Reconciliation:
        """Find out whether an earlier, ambiguous try already made the post."""
        ...

    async def edit(self, attempt: Attempt, post_id: str) -> bool:
        """Replace the post's text; False if the platform cannot edit it."""
        ...

    async def delete(self, attempt: Attempt, post_id: str) -> bool:
        """Take the post down; False if the platform cannot delete it."""
        ...

    async def comment(self, attempt: Attempt, post_id: str, text: str) -> str:
        """Comment `text` on the live post; the comment's id."""
        ...

    async def find_comment(self, attempt: Attempt, post_id: str, text: str) -> Reconciliation:
        """Whether an earlier, ambiguous try already made the comment."""
        ...

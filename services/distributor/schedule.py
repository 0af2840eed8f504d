"""When a post is due, and in which state it waits: pure rules, no I/O.

A job's `publish_at` is either an instant (it has an offset) or a wall-clock time in the
job's IANA zone. Wall-clock times are resolved with zoneinfo, and the two DST edge cases
are decided the way people expect of a calendar:

* a time that does not exist (the hour skipped when clocks go forward) moves forward by
  the length of the gap: 02:30 on a spring-forward night posts at 03:30 local time;
* a time that happens twice (the hour repeated when clocks go back) means the first one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo


class PostState(StrEnum):
    """Where a planned post is in the distributor (`distributor.posts.state`)."""

    SCHEDULED = "scheduled"  # waits for due_at; then sent, or held if paused
    AWAITING_APPROVAL = "awaiting_approval"
    HELD = "held"  # came due while its tenant or platform was paused
    SENT = "sent"  # handed to the publisher's topic: the distributor is done with it
    CANCELLED = "cancelled"


PENDING = frozenset({PostState.SCHEDULED, PostState.AWAITING_APPROVAL, PostState.HELD})


def resolve_due(publish_at: datetime | None, timezone: str | None, now: datetime) -> datetime:
    """The UTC instant a post is due (`now` when the job says nothing)."""
    if publish_at is None:
        return now
    if publish_at.tzinfo is not None:
        return publish_at.astimezone(UTC)
    if timezone is None:
        raise ValueError("a wall-clock publish_at needs a time zone")
    zone = ZoneInfo(timezone)
    # fold=0 is the first of two repeated times, and for a skipped time it applies the
    # offset in force before the gap, which lands the instant after the gap by its length.
    return publish_at.replace(tzinfo=zone, fold=0).astimezone(UTC)


def initial_state(*, require_approval: bool) -> PostState:
    """The state a new post starts in; pauses are applied when it comes due."""
    return PostState.AWAITING_APPROVAL if require_approval else PostState.SCHEDULED


def is_paused(paused_scopes: frozenset[str], platform: str) -> bool:
    """Whether a post for `platform` must be held: its platform or the whole tenant paused."""
    return ALL_PLATFORMS in paused_scopes or platform in paused_scopes


ALL_PLATFORMS = "*"

"""What happens to a post after an attempt: pure rules, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import HttpUrl

from jobcast.graph.pacing import RetryPolicy
from jobcast.platform_api import Verdict
from schemas.bounds import MAX_INT, scrub_text
from schemas.publish import ErrorClass, PublishError, PublishStatus
from services.publishing.posting import PermalinkRead

# States of a key in publishing.post_claims (see repo.py).
DONE, RETRY, UNCONFIRMED = "done", "retry_scheduled", "unconfirmed"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one attempt: the status to report and what the key does next."""

    status: PublishStatus
    state: str
    attempt: int
    error: PublishError | None = None
    delay_seconds: float | None = None  # when the key's timer fires next (None: no timer)
    platform_post_id: str | None = None
    permalink: HttpUrl | None = None
    confirm_checks: int = 0
    needs_reconnect: bool = False
    http_status: int | None = None  # of the Graph call that decided it, when one did
    # Learns `permalink` of a post that went up without one (see `posting.Posted`).
    read_permalink: PermalinkRead | None = field(default=None, compare=False)


def _message(text: str) -> str:
    # Platform text becomes contract text: never a reason for the outcome itself to fail.
    return scrub_text(text)[:2000]


def _code(value: int | None) -> int | None:
    # A code outside what the contract (and its column) holds is no code we know.
    return value if value is None or -MAX_INT - 1 <= value <= MAX_INT else None


def final(status: PublishStatus, attempt: int, **fields: Any) -> Decision:
    return Decision(status, DONE, attempt, **fields)


def failed(attempt: int, error_class: ErrorClass, message: str, **fields: Any) -> Decision:
    error = PublishError(error_class=error_class, message=_message(message), **fields)
    return Decision(
        PublishStatus.FAILED, DONE, attempt, error=error,
        needs_reconnect=error_class is ErrorClass.AUTH,
    )  # fmt: skip


def wait(attempt: int, seconds: float, error_class: ErrorClass, reason: str) -> Decision:
    """Not a failure: the post waits (rate limit, quota, media processing); no attempt used."""
    return Decision(
        PublishStatus.RETRY_SCHEDULED, RETRY, attempt,
        error=PublishError(error_class=error_class, message=_message(reason)),
        delay_seconds=max(seconds, 0.05),
    )  # fmt: skip


def after_failure(
    verdict: Verdict,
    attempt: int,
    policy: RetryPolicy,
    *,
    code: int | None,
    subcode: int | None,
    message: str,
    series_start: int = 1,
) -> Decision:
    """A failed attempt that certainly did not post: retry by tier, or give up.

    Tiers count from `series_start`, the first attempt of the current series (an
    operator's retry starts a new one while the attempt number keeps growing).
    """
    error = PublishError(
        error_class=verdict.error_class,
        code=_code(code),
        subcode=_code(subcode),
        message=_message(message),
    )
    if verdict.error_class is ErrorClass.TRANSIENT:
        delay = policy.delay_after(attempt - series_start + 1)
        if delay is not None:
            return Decision(
                PublishStatus.RETRY_SCHEDULED, RETRY, attempt + 1, error=error, delay_seconds=delay
            )
    return Decision(
        PublishStatus.FAILED, DONE, attempt, error=error,
        needs_reconnect=verdict.error_class is ErrorClass.AUTH,
    )  # fmt: skip


def unconfirmed(
    attempt: int, checks_done: int, confirm_delays: Sequence[float], reason: str
) -> Decision:
    """The post may exist: look again later (spaced), never post again on a guess."""
    delay = confirm_delays[checks_done] if checks_done < len(confirm_delays) else None
    return Decision(
        PublishStatus.UNCONFIRMED, UNCONFIRMED, attempt,
        error=PublishError(error_class=ErrorClass.TRANSIENT, message=_message(reason)),
        delay_seconds=delay, confirm_checks=checks_done + 1,
    )  # fmt: skip

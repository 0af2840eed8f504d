"""Retry tiers, as the engagement collector and the webhook dispatcher use them."""

from __future__ import annotations

from collections.abc import Sequence


def next_try_in(tries: int, delays: Sequence[float]) -> float | None:
    """Seconds before the next try after `tries` failed ones, or None: give up."""
    return delays[tries - 1] if 0 < tries <= len(delays) else None

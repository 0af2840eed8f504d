"""Being kind to Meta's limits: reading usage headers, pacing accounts, retry tiers.

Pure logic with an injected clock; the worker feeds it every response's headers and
asks it before every call. Limits are per account (Business Use Case usage) and per
app (X-App-Usage): one account at its limit must not stop the others.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType

# Mixpost backs off above 90%; we start spacing calls earlier and stop before 100%,
# because calls made while blocked extend the block.
SLOW_DOWN_AT = 75.0
STOP_AT = 95.0
DEFAULT_BLOCK_SECONDS = 300.0


@dataclass(frozen=True, slots=True)
class Usage:
    """One object's usage as Meta reports it: the highest of its percentages."""

    percent: float
    regain_seconds: float = 0.0


# Every response carries both headers, and their texts repeat (whole percentages per
# account), so a parse is looked up far more often than done: it was ~20% of a Graph
# call's instructions.
_PARSED_HEADERS = 4096
_NO_USAGE: Mapping[str, Usage] = MappingProxyType({})


@lru_cache(maxsize=_PARSED_HEADERS)
def parse_app_usage(header: str | None) -> Usage | None:
    """`X-App-Usage: {"call_count":28,"total_time":25,"total_cputime":25}`."""
    data = _json_object(header)
    if data is None:
        return None
    return Usage(_max_percent(data))


def parse_business_usage(header: str | None) -> Mapping[str, Usage]:
    """`X-Business-Use-Case-Usage: {"<id>":[{"type":..,"call_count":..,
    "estimated_time_to_regain_access": minutes}, ...]}` → usage per object id (read-only:
    one parse is shared by every response that sent the same text)."""
    return _parse_business_usage(header) if header else _NO_USAGE


@lru_cache(maxsize=_PARSED_HEADERS)
def _parse_business_usage(header: str) -> Mapping[str, Usage]:
    data = _json_object(header)
    usages: dict[str, Usage] = {}
    for object_id, entries in (data or {}).items():
        if not isinstance(entries, list):
            continue
        percent, regain = 0.0, 0.0
        for entry in entries:
            if isinstance(entry, dict):
                percent = max(percent, _max_percent(entry))
                regain = max(regain, 60.0 * _number(entry.get("estimated_time_to_regain_access")))
        usages[str(object_id)] = Usage(percent, regain)
    return MappingProxyType(usages)


def pacing_delay(percent: float) -> float:
    """Seconds to hold an account's next call at this usage: 0 below SLOW_DOWN_AT,
    growing towards STOP_AT, and a full pause from there (until usage decays)."""
    if percent < SLOW_DOWN_AT:
        return 0.0
    if percent >= STOP_AT:
        return 60.0
    return 1.0 + 29.0 * (percent - SLOW_DOWN_AT) / (STOP_AT - SLOW_DOWN_AT)


@dataclass
class Throttle:
    """When each account (and the app) may be called again."""

    clock: Callable[[], float] = time.monotonic
    default_block_seconds: float = DEFAULT_BLOCK_SECONDS
    _not_before: dict[str, float] = field(default_factory=dict)
    _app_not_before: float = 0.0

    def observe(self, app: Usage | None, business: Mapping[str, Usage]) -> None:
        """Record a response's usage headers (business usage is keyed by object id)."""
        now = self.clock()
        if app is not None:
            self._app_not_before = max(self._app_not_before, now + pacing_delay(app.percent))
        for object_id, usage in business.items():
            hold = max(pacing_delay(usage.percent), usage.regain_seconds)
            if hold > 0:
                self._hold(object_id, now + hold)

    def rate_limited(
        self, account_id: str, *, app_wide: bool, regain_seconds: float | None
    ) -> None:
        """A rate-limit error: stop calling the account (or the app) until it regains access."""
        until = self.clock() + (regain_seconds or self.default_block_seconds)
        if app_wide:
            self._app_not_before = max(self._app_not_before, until)
        else:
            self._hold(account_id, until)

    def wait_seconds(self, account_id: str) -> float:
        """0 if the account may be called now, else how long to wait."""
        now = self.clock()
        until = max(self._app_not_before, self._not_before.get(account_id, 0.0))
        return max(0.0, until - now)

    def _hold(self, object_id: str, until: float) -> None:
        self._not_before[object_id] = max(self._not_before.get(object_id, 0.0), until)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Backoff tiers for transient failures; attempts past the last tier fail the post."""

    delays: Sequence[float] = (30.0, 120.0, 300.0, 900.0, 3600.0)
    max_attempts: int = 5

    def delay_after(self, attempt: int) -> float | None:
        """Seconds before attempt `attempt + 1`, or None when attempts are exhausted."""
        if attempt >= self.max_attempts:
            return None
        return self.delays[min(attempt, len(self.delays)) - 1]


def _json_object(header: str | None) -> dict[str, object] | None:
    if not header:
        return None
    try:
        data = json.loads(header)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _max_percent(entry: Mapping[str, object]) -> float:
    return max(
        (_number(entry.get(k)) for k in ("call_count", "total_time", "total_cputime")),
        default=0.0,
    )


def _number(value: object) -> float:
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, int | float):
        return float(value)
    return 0.0

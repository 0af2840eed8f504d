"""Fault rules (what to break, for which calls, how many times) and their matching."""

from __future__ import annotations

import itertools
import re
from collections import deque
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FaultAction = Literal[
    "latency",
    "timeout",
    "http_500",
    "http_500_after_create",
    "error",
    "container_error",
    "connection_reset",
]


class FaultRule(BaseModel):
    """One fault rule as posted to ``POST /_sandbox/faults``.

    Matching: every given selector must match (``account_id`` exact, ``method`` case-insensitive,
    ``operation`` glob such as ``"ig.*"``, ``path_pattern`` regex searched in the path after the
    version, e.g. ``"/feed$"``). ``times`` is how many matching calls it hits (``None`` = forever).
    """

    model_config = ConfigDict(extra="forbid")

    action: FaultAction
    account_id: str | None = None
    method: str | None = None
    operation: str | None = None
    path_pattern: str | None = None
    times: int | None = Field(default=1, ge=1)
    latency_ms: int = Field(default=0, ge=0, description="Delay before the action is taken.")
    timeout_s: float | None = Field(default=None, ge=0, description="Sleep of `timeout`.")
    after_create: bool = Field(
        default=False,
        description="Perform the operation first (the post exists), then answer with the fault. "
        "Implied by http_500_after_create; honoured by error, timeout and connection_reset.",
    )
    code: int | None = None
    subcode: int | None = None
    http_status: int | None = Field(default=None, ge=100, le=599)
    message: str | None = None
    error_type: str | None = None
    is_transient: bool | None = None
    error_user_title: str | None = None
    error_user_msg: str | None = None
    estimated_time_to_regain_access: int = Field(default=5, ge=0, description="Minutes.")

    @model_validator(mode="before")
    @classmethod
    def _default_action(cls, data: Any) -> Any:
        # A bare {"latency_ms": N} (or action "latency_ms") means "just slow it down".
        if isinstance(data, dict):
            action = data.get("action")
            if (action is None and data.get("latency_ms")) or action == "latency_ms":
                data = {**data, "action": "latency"}
        return data

    @model_validator(mode="after")
    def _check(self) -> FaultRule:
        if self.action == "error" and self.code is None:
            raise ValueError("action 'error' needs a 'code'")
        if self.path_pattern is not None:
            try:
                re.compile(self.path_pattern)
            except re.error as exc:
                raise ValueError(f"invalid path_pattern: {exc}") from exc
        return self


@dataclass(slots=True)
class ActiveFault:
    """A stored rule with its id, remaining hits and compiled path regex."""

    id: str
    rule: FaultRule
    remaining: int | None
    hits: int
    path_re: re.Pattern[str] | None

    def matches(self, method: str, path: str, operation: str, account_id: str | None) -> bool:
        """Whether this rule selects the call (ignores the remaining count)."""
        rule = self.rule
        if rule.account_id is not None and rule.account_id != account_id:
            return False
        if rule.method is not None and rule.method.upper() != method:
            return False
        if (
            rule.operation is not None
            and rule.operation not in ("*", "any")
            and not fnmatchcase(operation, rule.operation)
        ):
            return False
        return self.path_re is None or self.path_re.search(path) is not None

    def view(self) -> dict[str, Any]:
        """JSON view for the control API."""
        data = self.rule.model_dump()
        data.update(id=self.id, remaining=self.remaining, hits=self.hits)
        return data


class FaultBook:
    """Ordered fault rules; the first active matching rule wins and is consumed once."""

    def __init__(self) -> None:
        self._active: list[ActiveFault] = []
        self._spent: deque[ActiveFault] = deque(maxlen=200)
        self._ids = itertools.count(1)

    def add(self, rule: FaultRule) -> ActiveFault:
        """Store a rule and return it with its id."""
        entry = ActiveFault(
            id=f"fault-{next(self._ids)}",
            rule=rule,
            remaining=rule.times,
            hits=0,
            path_re=re.compile(rule.path_pattern) if rule.path_pattern else None,
        )
        self._active.append(entry)
        return entry

    def remove(self, fault_id: str) -> bool:
        """Drop one rule by id; return whether it existed."""
        before = len(self._active)
        self._active = [f for f in self._active if f.id != fault_id]
        return len(self._active) != before

    def clear(self) -> None:
        """Drop every rule."""
        self._active.clear()
        self._spent.clear()

    def match(
        self, method: str, path: str, operation: str, account_id: str | None
    ) -> ActiveFault | None:
        """Return (and consume one hit of) the first rule matching the call, if any."""
        if not self._active:  # the benchmark's fast path
            return None
        for entry in self._active:
            if entry.matches(method, path, operation, account_id):
                entry.hits += 1
                if entry.remaining is not None:
                    entry.remaining -= 1
                    if entry.remaining <= 0:
                        self._active.remove(entry)
                        self._spent.append(entry)
                return entry
        return None

    def views(self) -> list[dict[str, Any]]:
        """Active rules followed by recently exhausted ones."""
        return [f.view() for f in self._active] + [f.view() for f in self._spent]

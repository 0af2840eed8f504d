"""Server-side sessions and their CSRF tokens: pure state, no I/O.

The browser holds only a random session id (in an HttpOnly cookie); the API key it signed
in with stays here, in memory, and is what the console calls the APIs with. Sessions are
kept by the digest of their id, so the store never holds a usable cookie value. Every
form carries the session's CSRF token; a POST without the matching token is refused.
In memory by design: one console process, and a restart signs everyone out (a key is
never written to disk by the console).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

Clock = Callable[[], float]


class Role(StrEnum):
    TENANT = "tenant"
    OPERATOR = "operator"


@dataclass
class Session:
    """One signed-in browser: its key (never rendered), role and CSRF token."""

    api_key: str = field(repr=False)
    role: Role
    csrf_token: str = field(repr=False)
    created_at: float
    last_seen_at: float
    # One-shot messages for the next page shown ("Approved.", or why an action failed).
    flash: list[tuple[str, str]] = field(default_factory=list)

    @property
    def is_operator(self) -> bool:
        return self.role is Role.OPERATOR

    def csrf_ok(self, token: str | None) -> bool:
        """Whether a submitted form's token is this session's (compared in constant time)."""
        return token is not None and hmac.compare_digest(token, self.csrf_token)


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


class SessionStore:
    """Sessions by id; each ends `lifetime` seconds after sign-in or `idle` seconds unused."""

    def __init__(
        self, *, lifetime: float, idle: float, clock: Clock = time.monotonic, limit: int = 10_000
    ) -> None:
        self._sessions: dict[bytes, Session] = {}
        self._lifetime = lifetime
        self._idle = idle
        self._clock = clock
        self._limit = limit

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, api_key: str, role: Role) -> tuple[str, Session]:
        """A new session; the id returned is the cookie's value (the store keeps its digest)."""
        self._prune()
        now = self._clock()
        session_id = secrets.token_urlsafe(32)
        session = Session(api_key, role, secrets.token_urlsafe(32), now, now)
        self._sessions[_digest(session_id)] = session
        return session_id, session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of a cookie value (its idle clock restarts), or None."""
        if not session_id:
            return None
        key = _digest(session_id)
        session = self._sessions.get(key)
        if session is None:
            return None
        now = self._clock()
        if self._expired(session, now):
            del self._sessions[key]
            return None
        session.last_seen_at = now
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(_digest(session_id), None)

    def _expired(self, session: Session, now: float) -> bool:
        return (
            now - session.created_at >= self._lifetime or now - session.last_seen_at >= self._idle
        )

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, s in self._sessions.items() if self._expired(s, now)]:
            del self._sessions[key]
        # Bounded memory: past the limit, the least recently used sessions end first.
        while len(self._sessions) >= self._limit:
            oldest = min(self._sessions, key=lambda k: self._sessions[k].last_seen_at)
            del self._sessions[oldest]

"""What the apps' own OAuth (Instagram Login, Threads) keeps in the sandbox: its
authorization codes and its tokens."""

from __future__ import annotations

from dataclasses import dataclass, field

from .models import AuthCode


@dataclass(slots=True)
class LoginToken:
    """A token issued by an app's own OAuth, for one account or profile."""

    user_id: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float
    long_lived: bool


@dataclass(slots=True)
class LoginStore:
    """One OAuth's codes and tokens (dropped on reset with the state)."""

    tokens: dict[str, LoginToken] = field(default_factory=dict)
    codes: dict[str, AuthCode] = field(default_factory=dict)

"""What Instagram Login keeps in the sandbox: its authorization codes and its tokens."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class IgLoginToken:
    """A token issued by Instagram Login, for one Instagram account."""

    ig_user_id: str
    scopes: tuple[str, ...]
    issued_at: float
    expires_at: float
    long_lived: bool


@dataclass(slots=True)
class IgLoginCode:
    ig_user_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires_at: float
    used: bool = False


@dataclass(slots=True)
class IgLoginStore:
    """What Instagram Login keeps: its codes and tokens (dropped on reset with the state)."""

    tokens: dict[str, IgLoginToken] = field(default_factory=dict)
    codes: dict[str, IgLoginCode] = field(default_factory=dict)

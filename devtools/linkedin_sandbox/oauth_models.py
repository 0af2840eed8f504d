"""What the fake LinkedIn's OAuth keeps (on `LinkedInStore.oauth`): codes, refresh tokens,
who consents."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_MEMBER = "sandbox-member"


@dataclass(slots=True)
class AuthorizationCode:
    member_id: str
    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    expires_at: float


@dataclass(slots=True)
class RefreshToken:
    member_id: str
    client_id: str
    scopes: tuple[str, ...]
    expires_at: float  # fixed at consent: refreshing does not extend it
    revoked: bool = False


@dataclass(slots=True)
class OAuthBook:
    """The OAuth side of the fake LinkedIn (kept on `LinkedInStore.oauth`)."""

    consenting_member: str = DEFAULT_MEMBER  # who clicks "Allow" in the dialog
    deny: bool = False  # the member clicks "Cancel" instead
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)  # client id -> secret, when checked

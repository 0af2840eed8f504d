"""Facebook Login, Instagram Login and Threads' OAuth, the pure parts: the signed `state`,
the dialog URLs, what to connect.

The `state` carries the tenant through the browser round trip. It is
`v1.<tenant>.<nonce>.<expiry>.<signature>`, the signature an HMAC-SHA256 keyed with a key
derived from `JOBCAST_SECRET_KEY` (never the Fernet key itself). States are signed with
the newest key and accepted under any configured one, so a key rotation does not break a
login in progress. Single use is enforced by the caller (the nonce is stored when redeemed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode
from uuid import UUID

from pydantic import SecretStr

from jobcast.crypto import SecretKeyMissingError
from jobcast.graph.hosts import LoginKind
from jobcast.graph.login import PageGrant
from schemas.platforms import Platform

CALLBACK_PATH = "/v1/connections/facebook/callback"
INSTAGRAM_CALLBACK_PATH = "/v1/connections/instagram/callback"
THREADS_CALLBACK_PATH = "/v1/connections/threads/callback"
LINKEDIN_CALLBACK_PATH = "/v1/connections/linkedin/callback"
_VERSION = "v1"
_KEY_LABEL = b"jobcast/oauth-state/v1"


class InvalidStateError(ValueError):
    """The `state` was not issued by us, was altered, or has expired."""


@dataclass(frozen=True, slots=True)
class OAuthState:
    tenant_id: UUID
    nonce: str
    expires_at: datetime


def _state_keys(secret_keys: SecretStr | None) -> list[bytes]:
    raw = secret_keys.get_secret_value() if secret_keys else ""
    parts = [k.strip() for k in raw.split(",") if k.strip()]
    if not parts:
        raise SecretKeyMissingError("JOBCAST_SECRET_KEY is not set")
    # A labelled HMAC of each key: a key used only for states, independent of encryption.
    return [hmac.new(p.encode(), _KEY_LABEL, hashlib.sha256).digest() for p in parts]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class StateSigner:
    """Issues and checks OAuth `state` values."""

    def __init__(
        self,
        secret_keys: SecretStr | None,
        ttl_seconds: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = _state_keys(secret_keys)
        self._ttl = ttl_seconds
        self._clock = clock

    def issue(self, tenant_id: UUID) -> str:
        """A fresh state for `tenant_id`, valid for the TTL."""
        expires = int(self._clock() + self._ttl)
        body = f"{_VERSION}.{tenant_id.hex}.{secrets.token_urlsafe(16)}.{expires}"
        return f"{body}.{self._sign(self._keys[0], body)}"

    def verify(self, state: str) -> OAuthState:
        """The state's content, or InvalidStateError (tampered, foreign or expired)."""
        body, _, signature = state.rpartition(".")
        parts = body.split(".")
        if len(parts) != 4 or parts[0] != _VERSION:
            raise InvalidStateError("malformed state")
        if not any(hmac.compare_digest(self._sign(k, body), signature) for k in self._keys):
            raise InvalidStateError("state signature does not match")
        _, tenant_hex, nonce, expires_text = parts
        try:
            tenant_id, expires = UUID(hex=tenant_hex), int(expires_text)
        except ValueError:
            raise InvalidStateError("malformed state") from None
        if self._clock() >= expires:
            raise InvalidStateError("state expired: start the connection again")
        return OAuthState(tenant_id, nonce, datetime.fromtimestamp(expires, UTC))

    @staticmethod
    def _sign(key: bytes, body: str) -> str:
        return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())


def callback_url(public_url: str, path: str = CALLBACK_PATH) -> str:
    """The redirect_uri registered with the app: where the dialog sends the browser back."""
    return public_url.rstrip("/") + path


def authorize_url(
    dialog_url: str,
    *,
    version: str,
    app_id: str,
    redirect_uri: str,
    state: str,
    scopes: Sequence[str],
) -> str:
    """The Facebook Login dialog address for one attempt."""
    query = urlencode(
        {
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "scope": ",".join(scopes),
            "response_type": "code",
        }
    )
    base = dialog_url.replace("{version}", version)
    return f"{base}{'&' if '?' in base else '?'}{query}"


def instagram_authorize_url(
    dialog_url: str, *, app_id: str, redirect_uri: str, state: str, scopes: Sequence[str]
) -> str:
    """Instagram's Business Login dialog address for one attempt (not versioned); Threads'
    dialog takes the same parameters."""
    query = urlencode(
        {
            "client_id": app_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": ",".join(scopes),
            "state": state,
        }
    )
    return f"{dialog_url}{'&' if '?' in dialog_url else '?'}{query}"


@dataclass(frozen=True, slots=True)
class NewConnection:
    platform: Platform
    account_id: str
    display_name: str
    token: str
    login: LoginKind = LoginKind.FACEBOOK
    expires_at: datetime | None = None  # None: does not expire on a clock (Page tokens)
    scopes: tuple[str, ...] = ()  # kept only where Meta cannot be asked later
    refresh_token: str | None = None  # LinkedIn: renews the access token
    refresh_expires_at: datetime | None = None

    def __repr__(self) -> str:
        return f"NewConnection({self.platform.value}, {self.account_id!r})"


def connections_from_pages(pages: Sequence[PageGrant]) -> list[NewConnection]:
    """One Facebook connection per Page, one Instagram connection per linked IG account.

    Instagram publishing through Facebook Login acts with the Page's token.
    """
    found: list[NewConnection] = []
    for page in pages:
        found.append(NewConnection(Platform.FACEBOOK, page.page_id, page.name, page.access_token))
        if page.instagram_id:
            found.append(
                NewConnection(Platform.INSTAGRAM, page.instagram_id, page.name, page.access_token)
            )
    return found

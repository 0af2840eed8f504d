"""Meta's user-token logins other than Facebook Login: Instagram Login (the Instagram API
with Instagram Login) and Threads' own OAuth. The code exchange, the long-lived token, its
refresh and the account behind a token.

Both work alike, told apart by a `LoginDialect` (grant names, `/me` fields): a dialog
(www.instagram.com, threads.net; a browser address only), a code exchange
(api.instagram.com; graph.threads.net) and a Graph host (graph.instagram.com;
graph.threads.net), each a setting. A short-lived token (1 h) is swapped at once for a
long-lived one (60 days), which can be refreshed once it is 24 h old and until it expires.
As in `login`, no secret ever reaches an exception: Meta's messages are scrubbed of them,
transport errors keep only their type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from pydantic import SecretStr
from yarl import URL

from jobcast.graph.login import AppNotConfiguredError

# What publishing through Instagram Login needs (the dialog asks for exactly these).
INSTAGRAM_LOGIN_SCOPES = ("instagram_business_basic", "instagram_business_content_publish")
# What publishing to Threads needs.
THREADS_LOGIN_SCOPES = ("threads_basic", "threads_content_publish")
# Meta: a long-lived token can be refreshed once it is this old.
REFRESHABLE_AFTER = timedelta(hours=24)
_MAX_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class LoginDialect:
    """What tells one of these logins from the other."""

    name: str  # as messages name the platform
    exchange_grant: str  # the long-lived token exchange's grant_type
    refresh_grant: str  # the refresh's grant_type
    me_fields: str  # what `/me` is asked for (the account id and its username)
    app_settings: str  # the settings that configure the app, for "not configured"
    reports_scopes: bool = True  # whether the code exchange says what was granted


INSTAGRAM = LoginDialect(
    "Instagram",
    "ig_exchange_token",
    "ig_refresh_token",
    "user_id,username",
    "INSTAGRAM_APP_ID and INSTAGRAM_APP_SECRET",
)
THREADS = LoginDialect(
    "Threads",
    "th_exchange_token",
    "th_refresh_token",
    "id,username",
    "THREADS_APP_ID and THREADS_APP_SECRET",
    reports_scopes=False,
)


class UserLoginError(Exception):
    """The platform refused a call, or did not answer. The message carries no secret.

    `code` is Meta's error code when there was one (190: the token is dead).
    """

    def __init__(self, operation: str, message: str, *, code: int | None = None) -> None:
        super().__init__(f"{operation} failed: {message}")
        self.code = code


@dataclass(frozen=True, slots=True)
class ShortLivedGrant:
    """What the code exchange gives: a 1 h token, the account and the granted scopes
    (none when the platform does not say: Threads)."""

    token: str
    user_id: str
    scopes: frozenset[str]

    def __repr__(self) -> str:  # keeps the token out of tracebacks and debug output
        return f"ShortLivedGrant(user_id={self.user_id!r}, token=[redacted])"


@dataclass(frozen=True, slots=True)
class LongLivedToken:
    token: str
    expires_in_seconds: int

    def __repr__(self) -> str:
        return f"LongLivedToken(expires_in_seconds={self.expires_in_seconds}, token=[redacted])"

    def expires_at(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.expires_in_seconds)


@dataclass(frozen=True, slots=True)
class UserProfile:
    """The account behind a token (`user_id` is the id media is posted to)."""

    user_id: str
    username: str


class UserTokenLogin:
    """Calls made on behalf of the connections flow for one login's accounts."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        graph_url: str,
        token_url: str,
        version: str,
        app_id: str | None,
        app_secret: SecretStr | None,
        dialect: LoginDialect = INSTAGRAM,
    ) -> None:
        self.dialect = dialect
        self._http = http
        self._graph = URL(graph_url.rstrip("/") + "/")
        self._token_url = URL(token_url.rstrip("/") + "/")
        self._version = version
        self._app_id = app_id
        self._app_secret = app_secret

    @property
    def configured(self) -> bool:
        """Whether the app's id and secret (needed by the dialog and the code exchange) are
        set."""
        return bool(self._app_id) and self._app_secret is not None

    def _app(self) -> tuple[str, str]:
        if not self._app_id or self._app_secret is None:
            raise AppNotConfiguredError(f"{self.dialect.app_settings} must be set")
        return self._app_id, self._app_secret.get_secret_value()

    async def exchange_code(self, code: str, redirect_uri: str) -> ShortLivedGrant:
        """The short-lived token an authorization code stands for (POST, form-encoded)."""
        app_id, secret = self._app()
        body = await self._call(
            "POST",
            self._token_url.join(URL("oauth/access_token")),
            "code exchange",
            form={
                "client_id": app_id,
                "client_secret": secret,
                "grant_type": "authorization_code",
                "redirect_uri": redirect_uri,
                "code": code,
            },
            secrets=(code, secret),
        )
        # Business Login answers {"data": [{...}]}; the older shape is the object itself.
        data = body.get("data")
        entry = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else body
        token, user_id = entry.get("access_token"), entry.get("user_id")
        if not isinstance(token, str) or not token or user_id in (None, ""):
            raise UserLoginError("code exchange", "answer without access_token or user_id")
        permissions = entry.get("permissions") or ""
        scopes = (
            permissions.split(",")
            if isinstance(permissions, str)
            else [str(p) for p in permissions]
        )
        return ShortLivedGrant(token, str(user_id), frozenset(s.strip() for s in scopes if s))

    async def long_lived(self, short_lived: str) -> LongLivedToken:
        """Swap a short-lived token for a long-lived one (60 days)."""
        _, secret = self._app()
        body = await self._call(
            "GET",
            self._graph.join(URL("access_token")),
            "long-lived token exchange",
            query={
                "grant_type": self.dialect.exchange_grant,
                "client_secret": secret,
                "access_token": short_lived,
            },
            secrets=(short_lived, secret),
        )
        return _long_lived_of(body, "long-lived token exchange")

    async def refresh(self, token: str) -> LongLivedToken:
        """A fresh 60 days for a long-lived token at least 24 h old and not expired."""
        body = await self._call(
            "GET",
            self._graph.join(URL("refresh_access_token")),
            "token refresh",
            query={"grant_type": self.dialect.refresh_grant, "access_token": token},
            secrets=(token,),
        )
        return _long_lived_of(body, "token refresh")

    async def profile(self, token: str) -> UserProfile:
        """The account a token acts for (also the proof that the token still works)."""
        body = await self._call(
            "GET",
            self._graph.join(URL(f"{self._version}/me")),
            "reading the account",
            query={"fields": self.dialect.me_fields},
            token=token,
            secrets=(token,),
        )
        user_id = body.get("user_id") or body.get("id")
        if not user_id:
            raise UserLoginError("reading the account", "answer without user_id")
        return UserProfile(str(user_id), str(body.get("username") or ""))

    async def _call(
        self,
        method: str,
        url: URL,
        operation: str,
        *,
        query: dict[str, str] | None = None,
        form: dict[str, str] | None = None,
        token: str | None = None,
        secrets: Iterable[str] = (),
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if self._app_secret is not None:  # whatever the call, never echoed back
            secrets = (*secrets, self._app_secret.get_secret_value())
        failure = ""
        try:
            async with self._http.request(
                method,
                url.with_query(query) if query else url,
                data=form,
                headers=headers,
                allow_redirects=False,
            ) as response:
                status = response.status
                content = await response.content.read(_MAX_BODY_BYTES)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # By class name only: aiohttp's message may hold the URL, and a secret in it.
            failure = type(exc).__name__
        if failure:
            raise UserLoginError(operation, f"{self.dialect.name} unreachable ({failure})")
        try:
            body = json.loads(content)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise UserLoginError(operation, f"HTTP {status} without a JSON body")
        error = body.get("error")
        if isinstance(error, dict) or status >= 400:
            code, message = _error_of(body)
            raise UserLoginError(operation, f"code {code}: {_scrub(message, secrets)}", code=code)
        return body


def _error_of(body: dict[str, Any]) -> tuple[int | None, str]:
    """Graph's `{"error": {...}}`, or api.instagram.com's flat `error_type`/`error_message`."""
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code")
        return (code if isinstance(code, int) else None), str(error.get("message", ""))
    code = body.get("code")
    return (code if isinstance(code, int) else None), str(
        body.get("error_message") or body.get("error_type") or "refused"
    )


def _long_lived_of(body: dict[str, Any], operation: str) -> LongLivedToken:
    token, expires_in = body.get("access_token"), body.get("expires_in")
    if not isinstance(token, str) or not token or not isinstance(expires_in, int):
        raise UserLoginError(operation, "answer without access_token or expires_in")
    return LongLivedToken(token, expires_in)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:500]

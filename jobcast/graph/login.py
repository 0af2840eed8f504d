"""Facebook Login and token checks over the Graph client: the token exchanges, the
user's Pages, debug_token (the distributor's connections flow).

Every secret (code, tokens, app secret) travels in the query or a header and never in an
exception: Graph error messages are scrubbed of them, transport errors keep only their type.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import SecretStr

from jobcast.graph.client import GraphClient, GraphError
from jobcast.platform_api import AmbiguousOutcomeError

_MAX_PAGES = 20  # pages of /me/accounts followed (a hundred Pages each at most)
METRICS_LABEL = "facebook_login"


class AppNotConfiguredError(RuntimeError):
    """GRAPH_APP_ID / GRAPH_APP_SECRET are needed for this call and are not set."""


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What `debug_token` says about a token."""

    is_valid: bool
    expires_at: datetime | None  # None: does not expire on a clock (Meta answers 0)
    scopes: frozenset[str]
    error: str = ""


@dataclass(frozen=True, slots=True)
class PageGrant:
    """A Page the user manages, with its page token and linked Instagram account."""

    page_id: str
    name: str
    access_token: str
    instagram_id: str | None

    def __repr__(self) -> str:  # keeps the token out of tracebacks and debug output
        return f"PageGrant(page_id={self.page_id!r}, instagram_id={self.instagram_id!r})"


class FacebookGraph:
    """Graph calls made on behalf of the connections flow."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        version: str,
        app_id: str | None,
        app_secret: SecretStr | None,
    ) -> None:
        # Its metrics label keeps these calls apart from the publishers' per platform.
        self._graph = GraphClient(http, version, app_secret, platform=METRICS_LABEL)
        self._app_id = app_id
        self._app_secret = app_secret

    @property
    def configured(self) -> bool:
        """Whether the app id and secret (needed by OAuth and debug_token) are set."""
        return bool(self._app_id) and self._app_secret is not None

    def _app(self) -> tuple[str, str]:
        if not self._app_id or self._app_secret is None:
            raise AppNotConfiguredError("GRAPH_APP_ID and GRAPH_APP_SECRET must be set")
        return self._app_id, self._app_secret.get_secret_value()

    async def exchange_code(self, code: str, redirect_uri: str) -> str:
        """The user token an authorization code stands for (short-lived)."""
        app_id, secret = self._app()
        body = await self._get(
            "oauth/access_token",
            "code exchange",
            params={
                "client_id": app_id,
                "client_secret": secret,
                "redirect_uri": redirect_uri,
                "code": code,
            },
            secrets_in_call=(code, secret),
        )
        return _token_of(body, "code exchange")

    async def long_lived_user_token(self, user_token: str) -> str:
        """Swap a short-lived user token for a long-lived one (about 60 days)."""
        app_id, secret = self._app()
        body = await self._get(
            "oauth/access_token",
            "long-lived token exchange",
            params={
                "grant_type": "fb_exchange_token",
                "client_id": app_id,
                "client_secret": secret,
                "fb_exchange_token": user_token,
            },
            secrets_in_call=(user_token, secret),
        )
        return _token_of(body, "long-lived token exchange")

    async def pages(self, user_token: str) -> list[PageGrant]:
        """The Pages the user manages, each with its page token and linked IG account."""
        grants: list[PageGrant] = []
        after: str | None = None
        for _ in range(_MAX_PAGES):
            params = {"fields": "id,name,access_token,instagram_business_account", "limit": "100"}
            if after:
                params["after"] = after
            body = await self._get("me/accounts", "listing Pages", params=params, token=user_token)
            grants.extend(_page_grant(entry) for entry in body.get("data") or [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
            if not after:
                break
        return grants

    async def debug_token(self, token: str) -> TokenInfo:
        """Inspect a token with the app access token (`APPID|APPSECRET`)."""
        app_id, secret = self._app()
        body = await self._get(
            "debug_token",
            "debug_token",
            params={"input_token": token},
            token=f"{app_id}|{secret}",
            secrets_in_call=(token, secret),
        )
        data = body.get("data")
        if not isinstance(data, dict):
            raise _failed("debug_token", "answer without data", http_status=200)
        expires = data.get("expires_at")
        error = data.get("error")
        return TokenInfo(
            is_valid=bool(data.get("is_valid")),
            expires_at=(
                datetime.fromtimestamp(expires, UTC)
                if isinstance(expires, int) and expires
                else None
            ),
            scopes=frozenset(str(s) for s in data.get("scopes") or []),
            error=_scrub(str(error.get("message", "")), (token,))
            if isinstance(error, dict)
            else "",
        )

    async def _get(
        self,
        path: str,
        operation: str,
        *,
        params: dict[str, str],
        token: str | None = None,
        secrets_in_call: Iterable[str] = (),
    ) -> dict[str, Any]:
        hidden = [*secrets_in_call, *([token] if token else [])]
        try:
            return await self._graph.call("GET", path, token, params=params)
        except GraphError as exc:
            raise GraphError(
                _scrub(exc.message, hidden),
                operation=operation,
                code=exc.code,
                subcode=exc.subcode,
                http_status=exc.http_status,
            ) from None
        except AmbiguousOutcomeError as exc:
            # A GET changes nothing: no answer is simply a failure of the call.
            raise _failed(operation, f"Graph API unreachable ({exc})") from None


def _failed(operation: str, message: str, *, http_status: int | None = None) -> GraphError:
    """A call that failed without a Graph error body."""
    return GraphError(
        message, operation=operation, code=None, subcode=None, http_status=http_status
    )


def _token_of(body: dict[str, Any], operation: str) -> str:
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise _failed(operation, "answer without access_token", http_status=200)
    return token


def _page_grant(entry: Any) -> PageGrant:
    if not isinstance(entry, dict) or not entry.get("id") or not entry.get("access_token"):
        raise _failed("listing Pages", "a Page came without id or access_token")
    instagram = entry.get("instagram_business_account")
    return PageGrant(
        page_id=str(entry["id"]),
        name=str(entry.get("name") or ""),
        access_token=str(entry["access_token"]),
        instagram_id=str(instagram["id"])
        if isinstance(instagram, dict) and instagram.get("id")
        else None,
    )


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:500]

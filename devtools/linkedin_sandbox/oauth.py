"""LinkedIn's 3-legged OAuth on the fake LinkedIn: the member's consent, authorization codes,
access and refresh tokens, token introspection, and the organizations a member administers.

As LinkedIn documents it: an access token lives 60 days, a refresh token 365 days from the
first consent; refreshing gives a new 60-day access token and the same refresh token, whose
lifetime keeps running from the consent (it is not extended). A code is good once, for
10 minutes, with the redirect_uri it was issued for. OAuth errors are OAuth's
(`{"error", "error_description"}`), not the REST API's error body.

Pure and synchronous: the routes (`routes_oauth`) do the HTTP.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from .models import MemberToken
from .oauth_models import AuthorizationCode, RefreshToken

if TYPE_CHECKING:
    from .store import LinkedInStore

ACCESS_TTL_S = 60 * 86_400
REFRESH_TTL_S = 365 * 86_400
CODE_TTL_S = 600


class OAuthError(Exception):
    """An OAuth error answer: HTTP 400 (or 401) with `error` and `error_description`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def consent(
    store: LinkedInStore, *, client_id: str, redirect_uri: str, scopes: tuple[str, ...], now: float
) -> str:
    """The consenting member allows the app: a fresh authorization code."""
    book = store.oauth
    if book.deny:
        raise OAuthError("user_cancelled_authorize", "The member refused to authorize the app")
    code = "AQ" + secrets.token_urlsafe(24)
    book.codes[code] = AuthorizationCode(
        book.consenting_member, client_id, redirect_uri, scopes, now + CODE_TTL_S
    )
    return code


def _check_client(store: LinkedInStore, client_id: str, client_secret: str) -> None:
    if not client_id or not client_secret:
        raise OAuthError("invalid_request", 'A required parameter "client_id" is missing', 400)
    known = store.oauth.clients.get(client_id)
    if store.oauth.clients and known != client_secret:
        raise OAuthError("invalid_client", "Client authentication failed", 401)


def _issue(
    store: LinkedInStore, member_id: str, scopes: tuple[str, ...], now: float
) -> tuple[str, MemberToken]:
    token = "AQV" + secrets.token_urlsafe(32)
    member = MemberToken(member_id, scopes, now, now + ACCESS_TTL_S)
    store.member_tokens[token] = member
    return token, member


def exchange_code(store: LinkedInStore, form: dict[str, str], now: float) -> dict[str, object]:
    """`grant_type=authorization_code`: the code for an access and a refresh token."""
    _check_client(store, form.get("client_id", ""), form.get("client_secret", ""))
    code = store.oauth.codes.pop(form.get("code", ""), None)
    if code is None or code.expires_at <= now:
        raise OAuthError(
            "invalid_request",
            "Unable to retrieve access token: authorization code not found",
        )
    if code.redirect_uri != form.get("redirect_uri") or code.client_id != form.get("client_id"):
        raise OAuthError(
            "invalid_redirect_uri", "Unable to retrieve access token: appid/redirect uri/code"
            " verifier does not match authorization code",
        )  # fmt: skip
    token, member = _issue(store, code.member_id, code.scopes, now)
    refresh = "AQX" + secrets.token_urlsafe(32)
    store.oauth.refresh_tokens[refresh] = RefreshToken(
        code.member_id, code.client_id, code.scopes, now + REFRESH_TTL_S
    )
    return _token_answer(token, member, refresh, store.oauth.refresh_tokens[refresh], now)


def refresh(store: LinkedInStore, form: dict[str, str], now: float) -> dict[str, object]:
    """`grant_type=refresh_token`: a new 60-day access token; the refresh token's own
    lifetime runs on from the consent. An expired or revoked one is LinkedIn's
    `invalid_grant`: the member must consent again."""
    _check_client(store, form.get("client_id", ""), form.get("client_secret", ""))
    value = form.get("refresh_token", "")
    grant = store.oauth.refresh_tokens.get(value)
    if grant is None or grant.revoked or grant.expires_at <= now:
        raise OAuthError(
            "invalid_grant",
            "The provided authorization grant or refresh token is invalid, expired or revoked",
        )
    token, member = _issue(store, grant.member_id, grant.scopes, now)
    return _token_answer(token, member, value, grant, now)


def _token_answer(
    token: str, member: MemberToken, refresh: str, grant: RefreshToken, now: float
) -> dict[str, object]:
    assert member.expires_at is not None
    return {
        "access_token": token,
        "expires_in": int(member.expires_at - now),
        "refresh_token": refresh,
        "refresh_token_expires_in": max(int(grant.expires_at - now), 0),
        "scope": ",".join(member.scopes),
    }


def introspect(store: LinkedInStore, form: dict[str, str], now: float) -> dict[str, object]:
    """`POST /oauth/v2/introspectToken`: whether a token is active, until when, with what."""
    _check_client(store, form.get("client_id", ""), form.get("client_secret", ""))
    token = form.get("token", "")
    member = store.member_tokens.get(token)
    if member is None:
        return _introspect_unissued(token)
    expired = member.expires_at is not None and member.expires_at <= now
    status = "revoked" if member.revoked else "expired" if expired else "active"
    answer: dict[str, object] = {
        "active": status == "active",
        "client_id": form.get("client_id", ""),
        "authorized_at": int(member.issued_at),
        "created_at": int(member.issued_at),
        "status": status,
        "scope": ",".join(member.scopes),
        "auth_type": "3L",
    }
    if member.expires_at is not None:
        answer["expires_at"] = int(member.expires_at)
    return answer


# What a token added by hand may do, in permissive mode (see `_introspect_unissued`).
_PERMISSIVE_SCOPES = ("w_organization_social", "r_organization_social", "rw_organization_admin")


def _introspect_unissued(token: str) -> dict[str, object]:
    """A token this sandbox did not issue is, as on the Graph sandbox's debug_token
    (permissive mode), a valid token that never expires: a connection added by hand, which
    publishes, must not be found dead by the distributor's token check."""
    if not token:
        return {"active": False}
    return {"active": True, "status": "active", "scope": ",".join(_PERMISSIVE_SCOPES),
            "auth_type": "3L"}  # fmt: skip


def age(store: LinkedInStore, token: str, seconds: float) -> bool:
    """Make an access or refresh token `seconds` older (its expiry that much nearer)."""
    member = store.member_tokens.get(token)
    if member is not None:
        member.issued_at -= seconds
        if member.expires_at is not None:
            member.expires_at -= seconds
        return True
    grant = store.oauth.refresh_tokens.get(token)
    if grant is not None:
        grant.expires_at -= seconds
        return True
    return False

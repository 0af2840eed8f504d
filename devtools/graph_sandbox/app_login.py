"""The steps Instagram Login and Threads' OAuth share: the consent dialog, redeeming a
code, issuing, checking, exchanging, refreshing and ageing their tokens."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from .call import Call
from .errors import GraphError, JSONDict, invalid_param, invalid_token
from .login_models import LoginStore, LoginToken
from .models import AuthCode
from .params import Params
from .state import SandboxState

SHORT_LIVED_TTL_S = 3600
REFRESHABLE_AFTER_S = 86_400
CODE_TTL_S = 600


def dialog_redirect(
    state: SandboxState,
    call: Call,
    store: LoginStore,
    *,
    consenting: str,
    default_scopes: tuple[str, ...],
    required_scope: str | None = None,
    fragment: str = "",
) -> str:
    """`GET /oauth/authorize`: consents at once (as `consenting`); the redirect location."""
    params = call.params
    client_id = params.require("client_id")
    redirect_uri = params.require("redirect_uri")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_param("Invalid redirect_uri")
    if params.get_str("response_type") != "code":
        raise invalid_param("Invalid response_type")
    check_app(state, client_id, None)
    scopes = tuple(s.strip() for s in params.csv("scope") if s.strip()) or default_scopes
    if required_scope is not None and required_scope not in scopes:
        raise invalid_param(f"{required_scope} is required")
    query: dict[str, str] = {}
    if state.settings.oauth_deny:
        query.update(
            error="access_denied",
            error_reason="user_denied",
            error_description="The user denied your request.",
        )
    else:
        code = secrets.token_urlsafe(32)
        store.codes[code] = AuthCode(
            consenting, client_id, redirect_uri, scopes, state.now() + CODE_TTL_S
        )
        query["code"] = code
    oauth_state = params.get_str("state")
    if oauth_state is not None:
        query["state"] = oauth_state
    separator = "&" if parts.query else "?"
    return f"{redirect_uri.split('#', 1)[0]}{separator}{urlencode(query)}{fragment}"


def redeem_code(state: SandboxState, call: Call, store: LoginStore) -> AuthCode:
    """`POST /oauth/access_token`'s checks: the app, the grant and a fresh code for this
    app and redirect; the code, now used."""
    if call.method != "POST":
        raise invalid_param("Unsupported method")
    params = call.params
    client_id = params.require("client_id")
    check_app(state, client_id, params.require("client_secret"))
    if params.get_str("grant_type") != "authorization_code":
        raise invalid_param("Invalid grant_type")
    code = store.codes.get(params.require("code"))
    if code is None or code.used or state.now() >= code.expires_at:
        raise invalid_param("Invalid authorization code")
    if code.redirect_uri != params.require("redirect_uri"):
        raise invalid_param("Error validating verification code: redirect_uri does not match")
    if code.client_id != client_id:
        raise invalid_param("Invalid authorization code")
    code.used = True
    return code


def issue(
    state: SandboxState,
    store: LoginStore,
    prefix: str,
    user_id: str,
    scopes: tuple[str, ...],
    *,
    ttl: float,
    long_lived: bool,
) -> str:
    """A new token (`prefix` as the platform's tokens start) for `user_id`."""
    token = prefix + secrets.token_urlsafe(48)
    now = state.now()
    store.tokens[token] = LoginToken(user_id, scopes, now, now + ttl, long_lived)
    return token


def valid_token(state: SandboxState, store: LoginStore, token: str | None) -> LoginToken:
    """The token a call carries, or Meta's 190 (unknown, revoked, expired)."""
    if not token:
        raise invalid_token()
    revoked = state.revoked_tokens.get(token)
    if revoked is not None:
        raise invalid_token(revoked)
    issued = store.tokens.get(token)
    if issued is None:
        raise invalid_token()
    if state.now() >= issued.expires_at:
        raise invalid_token(463)
    return issued


def long_lived_answer(
    state: SandboxState, store: LoginStore, prefix: str, issued: LoginToken, ttl: float
) -> JSONDict:
    """A long-lived token for what `issued` grants, as the exchange and refresh answer."""
    token = issue(state, store, prefix, issued.user_id, issued.scopes, ttl=ttl, long_lived=True)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


def refresh(
    state: SandboxState, call: Call, store: LoginStore, prefix: str, *, grant_type: str, ttl: float
) -> JSONDict:
    """`GET /refresh_access_token`: a long-lived token at least 24 h old and not expired
    gets `ttl` fresh seconds."""
    if call.params.get_str("grant_type") != grant_type:
        raise invalid_param("Invalid grant_type")
    issued = valid_token(state, store, call.token)
    if not issued.long_lived:
        raise invalid_param("Only long-lived access tokens can be refreshed")
    if state.now() - issued.issued_at < REFRESHABLE_AFTER_S:
        raise invalid_param("The access token must be at least 24 hours old to be refreshed")
    return long_lived_answer(state, store, prefix, issued, ttl)


def age_tokens(store: LoginStore, user_id: str, seconds: float) -> int:
    """Make `user_id`'s tokens `seconds` older (tests); how many."""
    aged = 0
    for issued in store.tokens.values():
        if issued.user_id == user_id:
            issued.issued_at -= seconds
            issued.expires_at -= seconds
            aged += 1
    return aged


def check_app(state: SandboxState, client_id: str | None, client_secret: str | None) -> None:
    """The app's id and secret, when given, are the sandbox's (101, or a bad secret)."""
    settings = state.settings
    if client_id is not None and settings.app_id and client_id != settings.app_id:
        raise GraphError(101)
    if (
        client_secret is not None
        and settings.app_secret is not None
        and not secrets.compare_digest(client_secret, settings.app_secret)
    ):
        raise invalid_param("Error validating client secret.")


def exchange_params(state: SandboxState, params: Params, grant_type: str) -> None:
    """`GET /access_token`'s checks before the token: the grant and the app's secret."""
    if params.get_str("grant_type") != grant_type:
        raise invalid_param("Invalid grant_type")
    check_app(state, None, params.require("client_secret"))

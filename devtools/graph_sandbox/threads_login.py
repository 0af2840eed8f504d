"""Threads' own OAuth, beside the Threads publishing host.

- `/threads-www` (threads.net): `GET /oauth/authorize`, the dialog (consents at once);
- `/threads-graph` (graph.threads.net): `POST /oauth/access_token` (code → short-lived
  token), `GET /access_token` (`th_exchange_token`), `GET /refresh_access_token`
  (`th_refresh_token`), `GET /me`.

As Meta documents it: the code exchange answers `{"access_token", "user_id"}` and names no
scopes; a short-lived token lives an hour, a long-lived one `threads_login_token_ttl_s`
(60 days); a long-lived token can be refreshed once it is 24 h old and until it expires;
an expired, revoked or unknown token gets 190. Tokens issued here act for their own
profile on the whole Threads host (`authorize`), publishing included.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from .call import Call
from .errors import GraphError, JSONDict, invalid_param, invalid_token, nonexisting_field
from .routing import Route
from .state import SandboxState
from .threads_models import ThreadsLoginCode, ThreadsLoginToken

WWW = "threads-www"
SHORT_LIVED_TTL_S = 3600
REFRESHABLE_AFTER_S = 86_400
CODE_TTL_S = 600
DEFAULT_SCOPES = ("threads_basic", "threads_content_publish")
DEFAULT_PROFILE_ID = "26040000000000777"


def consenting_profile(state: SandboxState) -> str:
    """The Threads profile that consents in the dialog."""
    chosen = state.settings.consenting_threads_id
    if chosen:
        return chosen
    profiles = [a.account_id for a in state.accounts.values() if a.platform == "threads"]
    return profiles[-1] if profiles else DEFAULT_PROFILE_ID


# --------------------------------------------------------------------------- dialog


def is_dialog(site: str | None, method: str, segments: tuple[str, ...]) -> bool:
    """Whether a call is the browser asking for Threads' consent dialog."""
    return site == WWW and method == "GET" and segments == ("oauth", "authorize")


def dialog_redirect(state: SandboxState, call: Call) -> str:
    """`GET threads.net/oauth/authorize`: consents at once; the redirect location."""
    params = call.params
    client_id = params.require("client_id")
    redirect_uri = params.require("redirect_uri")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_param("Invalid redirect_uri")
    if params.get_str("response_type") != "code":
        raise invalid_param("Invalid response_type")
    _check_app(state, client_id, None)
    scopes = tuple(s.strip() for s in params.csv("scope") if s.strip()) or DEFAULT_SCOPES
    if "threads_basic" not in scopes:
        raise invalid_param("threads_basic is required")
    query: dict[str, str] = {}
    if state.settings.oauth_deny:
        query.update(
            error="access_denied",
            error_reason="user_denied",
            error_description="The user denied your request.",
        )
    else:
        code = secrets.token_urlsafe(32)
        state.threads_login.codes[code] = ThreadsLoginCode(
            consenting_profile(state), client_id, redirect_uri, scopes, state.now() + CODE_TTL_S
        )
        query["code"] = code
    oauth_state = params.get_str("state")
    if oauth_state is not None:
        query["state"] = oauth_state
    separator = "&" if parts.query else "?"
    return f"{redirect_uri.split('#', 1)[0]}{separator}{urlencode(query)}"


# --------------------------------------------------------------------------- tokens


def exchange_code(state: SandboxState, call: Call) -> JSONDict:
    """`POST graph.threads.net/oauth/access_token`: an authorization code → a short-lived
    token and the profile it acts for (no scopes named)."""
    if call.method != "POST":
        raise invalid_param("Unsupported method")
    params = call.params
    client_id = params.require("client_id")
    _check_app(state, client_id, params.require("client_secret"))
    if params.get_str("grant_type") != "authorization_code":
        raise invalid_param("Invalid grant_type")
    code = state.threads_login.codes.get(params.require("code"))
    now = state.now()
    if code is None or code.used or now >= code.expires_at or code.client_id != client_id:
        raise invalid_param("Invalid authorization code")
    if code.redirect_uri != params.require("redirect_uri"):
        raise invalid_param("Error validating verification code: redirect_uri does not match")
    code.used = True
    token = _issue(state, code.user_id, code.scopes, SHORT_LIVED_TTL_S, long_lived=False)
    return {"access_token": token, "user_id": int(code.user_id)}


def exchange_long_lived(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.threads.net/access_token?grant_type=th_exchange_token`: a short-lived
    token → a long-lived one."""
    params = call.params
    if params.get_str("grant_type") != "th_exchange_token":
        raise invalid_param("Invalid grant_type")
    _check_app(state, None, params.require("client_secret"))
    issued = valid_token(state, call.token)
    if issued.long_lived:
        raise invalid_param("Only short-lived access tokens can be exchanged")
    ttl = state.settings.threads_login_token_ttl_s
    token = _issue(state, issued.user_id, issued.scopes, ttl, long_lived=True)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


def refresh(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.threads.net/refresh_access_token?grant_type=th_refresh_token`: a
    long-lived token at least 24 h old and not expired gets 60 fresh days."""
    if call.params.get_str("grant_type") != "th_refresh_token":
        raise invalid_param("Invalid grant_type")
    issued = valid_token(state, call.token)
    if not issued.long_lived:
        raise invalid_param("Only long-lived access tokens can be refreshed")
    if state.now() - issued.issued_at < REFRESHABLE_AFTER_S:
        raise invalid_param("The access token must be at least 24 hours old to be refreshed")
    ttl = state.settings.threads_login_token_ttl_s
    token = _issue(state, issued.user_id, issued.scopes, ttl, long_lived=True)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


def get_me(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.threads.net/me`: the Threads profile behind the token."""
    issued = valid_token(state, call.token)
    out: JSONDict = {}
    for spec in call.params.fields("id"):
        if spec.name == "id":
            out["id"] = issued.user_id
        elif spec.name in ("username", "name"):
            out[spec.name] = state.account_name(issued.user_id)
        elif spec.name == "threads_biography":
            out[spec.name] = ""
        else:
            raise nonexisting_field(spec.name, "ThreadsUser")
    return out


def age_tokens(state: SandboxState, user_id: str, seconds: float) -> int:
    """Make a profile's Threads tokens `seconds` older (tests); how many."""
    aged = 0
    for issued in state.threads_login.tokens.values():
        if issued.user_id == user_id:
            issued.issued_at -= seconds
            issued.expires_at -= seconds
            aged += 1
    return aged


def _issue(
    state: SandboxState, user_id: str, scopes: tuple[str, ...], ttl: float, *, long_lived: bool
) -> str:
    token = "THAA" + secrets.token_urlsafe(48)
    now = state.now()
    state.threads_login.tokens[token] = ThreadsLoginToken(
        user_id, scopes, now, now + ttl, long_lived
    )
    return token


def valid_token(state: SandboxState, token: str | None) -> ThreadsLoginToken:
    """The Threads token a call carries, or Meta's 190 (unknown, revoked, expired)."""
    if not token:
        raise invalid_token()
    revoked = state.revoked_tokens.get(token)
    if revoked is not None:
        raise invalid_token(revoked)
    issued = state.threads_login.tokens.get(token)
    if issued is None:
        raise invalid_token()
    if state.now() >= issued.expires_at:
        raise invalid_token(463)
    return issued


def authorizes(state: SandboxState, token: str, account_id: str | None) -> bool:
    """Whether `token` is one of Threads' OAuth tokens, good for `account_id` (raises 190
    when it is one but expired, revoked, or for another profile); False: not one of ours."""
    if token not in state.threads_login.tokens:
        return False
    issued = valid_token(state, token)
    if account_id is not None and account_id != issued.user_id:
        raise invalid_token()
    return True


def _check_app(state: SandboxState, client_id: str | None, client_secret: str | None) -> None:
    settings = state.settings
    if client_id is not None and settings.app_id and client_id != settings.app_id:
        raise GraphError(101)
    if (
        client_secret is not None
        and settings.app_secret is not None
        and not secrets.compare_digest(client_secret, settings.app_secret)
    ):
        raise invalid_param("Error validating client secret.")


# --------------------------------------------------------------------------- routing

ROUTES: dict[tuple[str, tuple[str, ...]], Route] = {
    ("POST", ("oauth", "access_token")): Route(
        "threads_login.code_exchange", exchange_code, needs_token=False
    ),
    ("GET", ("access_token",)): Route("threads_login.exchange_token", exchange_long_lived),
    ("GET", ("refresh_access_token",)): Route("threads_login.refresh_token", refresh),
    ("GET", ("me",)): Route("threads_login.me", get_me),
}
"""The Threads host's calls that are not about publishing, by (method, path)."""
OPERATIONS: tuple[str, ...] = (
    "threads_login.dialog",
    *sorted({route.operation for route in ROUTES.values()}),
)

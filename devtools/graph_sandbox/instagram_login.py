"""The Instagram API with Instagram Login: its three hosts, served under path prefixes.

| prefix | stands for | serves |
| --- | --- | --- |
| `/instagram-www` | www.instagram.com | `GET /oauth/authorize` (the dialog: consents at once) |
| `/instagram-api` | api.instagram.com | `POST /oauth/access_token` (code → short-lived token) |
| `/instagram-graph` | graph.instagram.com | token exchange and refresh, `/me`, publishing |

On `/instagram-graph`: `access_token` is `ig_exchange_token`, `refresh_access_token` is
`ig_refresh_token`, and the Instagram publishing calls (`/{ig-user-id}/media`,
`media_publish`, container status, `content_publishing_limit`, ...) run the handlers of
the Facebook host.

Tokens issued here act for one Instagram account, on the `/instagram-graph` host only
(a Facebook Page token is refused there with 190, as Meta does). Short-lived tokens live an
hour; long-lived ones `ig_login_token_ttl_s` (60 days); a long-lived token can be refreshed
once it is 24 h old and until it expires. The publishing calls run the same handlers as
on the Facebook host.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode, urlsplit

from .call import Call
from .errors import GraphError, JSONDict, invalid_param, invalid_token, nonexisting_field
from .ig_login_models import IgLoginCode, IgLoginToken
from .routing import Route, resolve
from .state import SandboxState

WWW, API, GRAPH = "instagram-www", "instagram-api", "instagram-graph"
SITES = frozenset({WWW, API, GRAPH})
SHORT_LIVED_TTL_S = 3600
REFRESHABLE_AFTER_S = 86_400
CODE_TTL_S = 600
DEFAULT_SCOPES = ("instagram_business_basic", "instagram_business_content_publish")
DEFAULT_ACCOUNT_ID = "17841400000000777"
_IG_OPERATION_PREFIX = "ig."


def site_of(parts: list[str]) -> str | None:
    """Which Instagram host a path is for (its prefix removed from `parts`), or None."""
    if parts and parts[0] in SITES:
        return parts.pop(0)
    return None


def consenting_account(state: SandboxState) -> str:
    """The Instagram account that consents in the dialog."""
    chosen = state.settings.consenting_instagram_id
    if chosen:
        return chosen
    instagram = [a.account_id for a in state.accounts.values() if a.platform == "instagram"]
    return instagram[-1] if instagram else DEFAULT_ACCOUNT_ID


# --------------------------------------------------------------------------- dialog


def dialog_redirect(state: SandboxState, call: Call) -> str:
    """`GET www.instagram.com/oauth/authorize`: consents at once; the redirect location."""
    params = call.params
    client_id = params.require("client_id")
    redirect_uri = params.require("redirect_uri")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_param("Invalid redirect_uri")
    if params.get_str("response_type") != "code":
        raise invalid_param("Invalid response_type")
    _check_app(state, client_id, None)
    query: dict[str, str] = {}
    if state.settings.oauth_deny:
        query.update(
            error="access_denied",
            error_reason="user_denied",
            error_description="The user denied your request.",
        )
    else:
        scopes = tuple(s.strip() for s in params.csv("scope") if s.strip()) or DEFAULT_SCOPES
        code = secrets.token_urlsafe(32)
        state.ig_login.codes[code] = IgLoginCode(
            consenting_account(state), client_id, redirect_uri, scopes, state.now() + CODE_TTL_S
        )
        query["code"] = code
    oauth_state = params.get_str("state")
    if oauth_state is not None:
        query["state"] = oauth_state
    separator = "&" if parts.query else "?"
    # Instagram appends `#_` to the redirect (not part of the code).
    return f"{redirect_uri.split('#', 1)[0]}{separator}{urlencode(query)}#_"


# --------------------------------------------------------------------------- tokens


def exchange_code(state: SandboxState, call: Call) -> JSONDict:
    """`POST api.instagram.com/oauth/access_token`: an authorization code → a short-lived
    token, with the account and the granted permissions."""
    if call.method != "POST":
        raise invalid_param("Unsupported method")
    params = call.params
    client_id = params.require("client_id")
    _check_app(state, client_id, params.require("client_secret"))
    if params.get_str("grant_type") != "authorization_code":
        raise invalid_param("Invalid grant_type")
    code = state.ig_login.codes.get(params.require("code"))
    now = state.now()
    if code is None or code.used or now >= code.expires_at:
        raise invalid_param("Invalid authorization code")
    if code.redirect_uri != params.require("redirect_uri"):
        raise invalid_param("Error validating verification code: redirect_uri does not match")
    if code.client_id != client_id:
        raise invalid_param("Invalid authorization code")
    code.used = True
    token = _issue(state, code.ig_user_id, code.scopes, SHORT_LIVED_TTL_S, long_lived=False)
    return {
        "data": [
            {
                "access_token": token,
                "user_id": code.ig_user_id,
                "permissions": ",".join(code.scopes),
            }
        ]
    }


def exchange_long_lived(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.instagram.com/access_token?grant_type=ig_exchange_token`."""
    params = call.params
    if params.get_str("grant_type") != "ig_exchange_token":
        raise invalid_param("Invalid grant_type")
    _check_app(state, None, params.require("client_secret"))
    issued = _valid(state, call.token)
    ttl = state.settings.ig_login_token_ttl_s
    token = _issue(state, issued.ig_user_id, issued.scopes, ttl, long_lived=True)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


def refresh(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token`: a
    long-lived token at least 24 h old and not expired gets 60 fresh days."""
    if call.params.get_str("grant_type") != "ig_refresh_token":
        raise invalid_param("Invalid grant_type")
    issued = _valid(state, call.token)
    if not issued.long_lived:
        raise invalid_param("Only long-lived access tokens can be refreshed")
    if state.now() - issued.issued_at < REFRESHABLE_AFTER_S:
        raise invalid_param("The access token must be at least 24 hours old to be refreshed")
    ttl = state.settings.ig_login_token_ttl_s
    token = _issue(state, issued.ig_user_id, issued.scopes, ttl, long_lived=True)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


def get_me(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.instagram.com/me`: the professional account behind the token."""
    issued = _valid(state, call.token)
    account_id = issued.ig_user_id
    out: JSONDict = {}
    for spec in call.params.fields("user_id,username"):
        if spec.name in ("id", "user_id"):
            out[spec.name] = account_id
        elif spec.name == "username":
            out["username"] = state.account_name(account_id)
        elif spec.name == "account_type":
            out["account_type"] = "BUSINESS"
        else:
            raise nonexisting_field(spec.name, "User")
    out.setdefault("id", account_id)
    return out


def age_tokens(state: SandboxState, account_id: str, seconds: float) -> int:
    """Make an account's Instagram Login tokens `seconds` older (tests); how many."""
    aged = 0
    for issued in state.ig_login.tokens.values():
        if issued.ig_user_id == account_id:
            issued.issued_at -= seconds
            issued.expires_at -= seconds
            aged += 1
    return aged


def _issue(
    state: SandboxState, account_id: str, scopes: tuple[str, ...], ttl: float, *, long_lived: bool
) -> str:
    token = "IGAA" + secrets.token_urlsafe(48)
    now = state.now()
    state.ig_login.tokens[token] = IgLoginToken(account_id, scopes, now, now + ttl, long_lived)
    return token


def _valid(state: SandboxState, token: str | None) -> IgLoginToken:
    """The Instagram Login token a call carries, or Meta's 190 (unknown, revoked, expired)."""
    if not token:
        raise invalid_token()
    revoked = state.revoked_tokens.get(token)
    if revoked is not None:
        raise invalid_token(revoked)
    issued = state.ig_login.tokens.get(token)
    if issued is None:
        raise invalid_token()
    if state.now() >= issued.expires_at:
        raise invalid_token(463)
    return issued


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


_FIXED: dict[tuple[str, str, tuple[str, ...]], Route] = {
    (API, "POST", ("oauth", "access_token")): Route(
        "ig_login.code_exchange", exchange_code, needs_token=False
    ),
    (GRAPH, "GET", ("access_token",)): Route("ig_login.exchange_token", exchange_long_lived),
    (GRAPH, "GET", ("refresh_access_token",)): Route("ig_login.refresh_token", refresh),
    (GRAPH, "GET", ("me",)): Route("ig_login.me", get_me),
}
OPERATIONS: tuple[str, ...] = (
    "ig_login.dialog",
    *sorted({route.operation for route in _FIXED.values()}),
)


def resolve_on(
    state: SandboxState, site: str, method: str, segments: tuple[str, ...]
) -> tuple[Route | None, GraphError | None]:
    """The route of a call to an Instagram host (its error answered after the token check,
    as Meta does)."""
    fixed = _FIXED.get((site, method, segments))
    if fixed is not None:
        return fixed, None
    if site != GRAPH:
        return None, invalid_param(f"Unsupported request: {method} /{'/'.join(segments)}")
    try:
        route = resolve(state, method, segments)
    except GraphError as err:
        return None, err
    if not route.operation.startswith(_IG_OPERATION_PREFIX):
        # Facebook objects do not exist on Instagram's host.
        return None, nonexisting_field(segments[-1], "User")
    return route, None


def authorize(state: SandboxState, route: Route | None, token: str) -> None:
    """Instagram's host takes Instagram Login tokens for their own account only."""
    if route is not None and route.operation in ("ig_login.exchange_token",):
        return  # checked by the exchange (a short-lived token is what it takes)
    issued = _valid(state, token)
    if route is not None and route.account_id is not None and route.account_id != issued.ig_user_id:
        raise invalid_token()


def api_error_body(err: GraphError) -> JSONDict:
    """api.instagram.com answers errors flat, not in Graph's `{"error": {...}}`."""
    return {"error_type": err.type, "code": err.http_status, "error_message": err.message}

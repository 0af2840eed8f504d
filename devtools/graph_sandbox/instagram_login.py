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

from . import app_login
from .app_login import SHORT_LIVED_TTL_S
from .call import Call
from .errors import GraphError, JSONDict, invalid_param, invalid_token, nonexisting_field
from .login_models import LoginToken
from .routing import Route, resolve
from .state import SandboxState

WWW, API, GRAPH = "instagram-www", "instagram-api", "instagram-graph"
SITES = frozenset({WWW, API, GRAPH})
PREFIX = "IGAA"
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
    return app_login.dialog_redirect(
        state,
        call,
        state.ig_login,
        consenting=consenting_account(state),
        default_scopes=DEFAULT_SCOPES,
        # Instagram appends `#_` to the redirect (not part of the code).
        fragment="#_",
    )


# --------------------------------------------------------------------------- tokens


def exchange_code(state: SandboxState, call: Call) -> JSONDict:
    """`POST api.instagram.com/oauth/access_token`: an authorization code → a short-lived
    token, with the account and the granted permissions."""
    code = app_login.redeem_code(state, call, state.ig_login)
    token = app_login.issue(
        state,
        state.ig_login,
        PREFIX,
        code.user_id,
        code.scopes,
        ttl=SHORT_LIVED_TTL_S,
        long_lived=False,
    )
    return {
        "data": [
            {
                "access_token": token,
                "user_id": code.user_id,
                "permissions": ",".join(code.scopes),
            }
        ]
    }


def exchange_long_lived(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.instagram.com/access_token?grant_type=ig_exchange_token`."""
    app_login.exchange_params(state, call.params, "ig_exchange_token")
    issued = _valid(state, call.token)
    ttl = state.settings.ig_login_token_ttl_s
    return app_login.long_lived_answer(state, state.ig_login, PREFIX, issued, ttl)


def refresh(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token`: a
    long-lived token at least 24 h old and not expired gets 60 fresh days."""
    ttl = state.settings.ig_login_token_ttl_s
    return app_login.refresh(
        state, call, state.ig_login, PREFIX, grant_type="ig_refresh_token", ttl=ttl
    )


def get_me(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.instagram.com/me`: the professional account behind the token."""
    issued = _valid(state, call.token)
    account_id = issued.user_id
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
    return app_login.age_tokens(state.ig_login, account_id, seconds)


def _valid(state: SandboxState, token: str | None) -> LoginToken:
    """The Instagram Login token a call carries, or Meta's 190 (unknown, revoked, expired)."""
    return app_login.valid_token(state, state.ig_login, token)


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
    if route is not None and route.account_id is not None and route.account_id != issued.user_id:
        raise invalid_token()


def api_error_body(err: GraphError) -> JSONDict:
    """api.instagram.com answers errors flat, not in Graph's `{"error": {...}}`."""
    return {"error_type": err.type, "code": err.http_status, "error_message": err.message}

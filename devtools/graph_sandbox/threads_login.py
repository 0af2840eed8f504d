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

from . import app_login
from .app_login import SHORT_LIVED_TTL_S
from .call import Call
from .errors import JSONDict, invalid_param, invalid_token, nonexisting_field
from .login_models import LoginToken
from .routing import Route
from .state import SandboxState

WWW = "threads-www"
PREFIX = "THAA"
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
    return app_login.dialog_redirect(
        state,
        call,
        state.threads_login,
        consenting=consenting_profile(state),
        default_scopes=DEFAULT_SCOPES,
        required_scope="threads_basic",
    )


# --------------------------------------------------------------------------- tokens


def exchange_code(state: SandboxState, call: Call) -> JSONDict:
    """`POST graph.threads.net/oauth/access_token`: an authorization code → a short-lived
    token and the profile it acts for (no scopes named)."""
    code = app_login.redeem_code(state, call, state.threads_login)
    token = app_login.issue(
        state,
        state.threads_login,
        PREFIX,
        code.user_id,
        code.scopes,
        ttl=SHORT_LIVED_TTL_S,
        long_lived=False,
    )
    return {"access_token": token, "user_id": int(code.user_id)}


def exchange_long_lived(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.threads.net/access_token?grant_type=th_exchange_token`: a short-lived
    token → a long-lived one."""
    app_login.exchange_params(state, call.params, "th_exchange_token")
    issued = valid_token(state, call.token)
    if issued.long_lived:
        raise invalid_param("Only short-lived access tokens can be exchanged")
    ttl = state.settings.threads_login_token_ttl_s
    return app_login.long_lived_answer(state, state.threads_login, PREFIX, issued, ttl)


def refresh(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.threads.net/refresh_access_token?grant_type=th_refresh_token`: a
    long-lived token at least 24 h old and not expired gets 60 fresh days."""
    ttl = state.settings.threads_login_token_ttl_s
    return app_login.refresh(
        state, call, state.threads_login, PREFIX, grant_type="th_refresh_token", ttl=ttl
    )


def get_me(state: SandboxState, call: Call) -> JSONDict:
    """`GET graph.threads.net/me`: the Threads profile behind the token."""
    user_id = _profile_of(state, call.token)
    out: JSONDict = {}
    for spec in call.params.fields("id"):
        if spec.name == "id":
            out["id"] = user_id
        elif spec.name in ("username", "name"):
            out[spec.name] = state.account_name(user_id)
        elif spec.name == "threads_biography":
            out[spec.name] = ""
        else:
            raise nonexisting_field(spec.name, "ThreadsUser")
    return out


def _profile_of(state: SandboxState, token: str | None) -> str:
    """The profile a token acts for. A token not issued by this login is, as on the
    Facebook host (permissive mode), a valid token: of the Threads profile registered with
    it, else of the sandbox's default user. Revoked tokens get 190 either way."""
    if not token or token in state.threads_login.tokens:
        return valid_token(state, token).user_id
    revoked = state.revoked_tokens.get(token)
    if revoked is not None:
        raise invalid_token(revoked)
    for account in state.accounts.values():
        if account.platform == "threads" and account.token == token:
            return account.account_id
    return state.default_user_id()


def age_tokens(state: SandboxState, user_id: str, seconds: float) -> int:
    """Make a profile's Threads tokens `seconds` older (tests); how many."""
    return app_login.age_tokens(state.threads_login, user_id, seconds)


def valid_token(state: SandboxState, token: str | None) -> LoginToken:
    """The Threads token a call carries, or Meta's 190 (unknown, revoked, expired)."""
    return app_login.valid_token(state, state.threads_login, token)


def authorizes(state: SandboxState, token: str, account_id: str | None) -> bool:
    """Whether `token` is one of Threads' OAuth tokens, good for `account_id` (raises 190
    when it is one but expired, revoked, or for another profile); False: not one of ours."""
    if token not in state.threads_login.tokens:
        return False
    issued = valid_token(state, token)
    if account_id is not None and account_id != issued.user_id:
        raise invalid_token()
    return True


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

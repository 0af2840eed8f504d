"""Tokens: which token may act for which account, appsecret_proof, OAuth and token debugging."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlencode, urlsplit

from .call import Call
from .common import NodeFields, render_fields
from .errors import (
    GraphError,
    JSONDict,
    invalid_param,
    invalid_token,
    missing_param,
    nonexisting_field,
)
from .models import Account, AuthCode, IssuedToken
from .state import SandboxState

CODE_TTL_S = 600
DATA_ACCESS_TTL_S = 90 * 86_400
DEFAULT_SCOPES = (
    "pages_show_list",
    "pages_manage_posts",
    "pages_read_engagement",
    "pages_manage_engagement",
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_comments",
    "business_management",
)
_PAGE_TASKS = ["ADVERTISE", "ANALYZE", "CREATE_CONTENT", "MESSAGING", "MODERATE", "MANAGE"]


def appsecret_proof(app_secret: str, token: str) -> str:
    """Meta's proof: hex HMAC-SHA256 of the token keyed with the app secret."""
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def verify_appsecret_proof(state: SandboxState, token: str, proof: str | None) -> None:
    """Check ``appsecret_proof`` when the sandbox knows the app secret."""
    secret = state.settings.app_secret
    if not secret:
        return
    if proof is None:
        if state.settings.require_appsecret_proof:
            raise invalid_param("API calls from the server require an appsecret_proof argument")
        return
    if not hmac.compare_digest(appsecret_proof(secret, token), proof.strip().lower()):
        raise GraphError(100, message="Invalid appsecret_proof provided in the API argument")


def authorize(state: SandboxState, token: str, account_id: str | None) -> None:
    """Accept or reject ``token`` for a call about ``account_id`` (code 190 on rejection).

    Unregistered accounts and accounts registered without a token accept any non-empty token
    (permissive mode). An account registered with a token accepts only that token, the token of
    the Page it is linked to (IG), or a user token of the user who manages it.
    """
    revoked = state.revoked_tokens.get(token)
    if revoked is not None:
        raise invalid_token(revoked)
    issued = state.user_tokens.get(token)
    if issued is not None and issued.expires_at is not None and state.now() >= issued.expires_at:
        raise invalid_token(463)
    if account_id is None:
        return
    account = state.accounts.get(account_id)
    if account is None:
        return
    page_token = _linked_page_token(state, account)
    if account.token is None and page_token is None:
        return
    if token == account.token or (page_token is not None and token == page_token):
        return
    if issued is not None and issued.user_id == state.owner_user(account_id):
        return
    raise invalid_token()


def _linked_page_token(state: SandboxState, account: Account) -> str | None:
    if account.platform != "instagram":
        return None
    page_id = state.ig_to_page.get(account.account_id)
    page = state.accounts.get(page_id) if page_id is not None else None
    return page.token if page is not None else None


def _page_for_token(state: SandboxState, token: str | None) -> Account | None:
    if not token:
        return None
    for account in state.accounts.values():
        if account.platform == "facebook" and account.token == token:
            return account
    return None


def _user_for_token(state: SandboxState, token: str | None) -> str:
    issued = state.user_tokens.get(token) if token else None
    return issued.user_id if issued is not None else state.default_user_id()


def _check_client(state: SandboxState, client_id: str, client_secret: str | None) -> None:
    settings = state.settings
    if settings.app_id and client_id != settings.app_id:
        raise GraphError(101)
    if (
        settings.app_secret is not None
        and client_secret is not None
        and not hmac.compare_digest(client_secret, settings.app_secret)
    ):
        raise GraphError(
            1, message="Error validating client secret.", http_status=400, is_transient=False
        )


def dialog_redirect(state: SandboxState, call: Call) -> str:
    """``GET /dialog/oauth``: the sandbox consents at once; return the redirect location."""
    params = call.params
    client_id = params.require("client_id")
    redirect_uri = params.require("redirect_uri")
    parts = urlsplit(redirect_uri)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise GraphError(191)
    _check_client(state, client_id, None)
    query: dict[str, str] = {}
    if state.settings.oauth_deny:
        query.update(
            error="access_denied",
            error_code="200",
            error_description="Permissions error",
            error_reason="user_denied",
        )
    else:
        code = secrets.token_urlsafe(32)
        scopes = tuple(params.csv("scope")) or DEFAULT_SCOPES
        state.auth_codes[code] = AuthCode(
            state.default_user_id(), client_id, redirect_uri, scopes, state.now() + CODE_TTL_S
        )
        query["code"] = code
    oauth_state = params.get_str("state")
    if oauth_state is not None:
        query["state"] = oauth_state
    separator = "&" if parts.query else "?"
    base = redirect_uri.split("#", 1)[0]
    return f"{base}{separator}{urlencode(query)}#_=_"  # Meta appends the '#_=_' fragment


def exchange_token(state: SandboxState, call: Call) -> JSONDict:
    """``GET /oauth/access_token``: code exchange, fb_exchange_token or client_credentials."""
    params = call.params
    client_id = params.get_str("client_id")
    if not client_id:
        raise GraphError(101, message="Missing client_id parameter.")
    client_secret = params.get_str("client_secret")
    grant = params.get_str("grant_type")
    if client_secret is None:
        raise missing_param("client_secret")
    _check_client(state, client_id, client_secret)
    now = state.now()
    if grant == "client_credentials":
        return {"access_token": f"{client_id}|{client_secret}", "token_type": "bearer"}
    if grant == "fb_exchange_token":
        old = params.require("fb_exchange_token")
        authorize(state, old, None)  # revoked / expired tokens cannot be exchanged
        issued = state.user_tokens.get(old)
        user_id = issued.user_id if issued is not None else state.default_user_id()
        scopes = issued.scopes if issued is not None else DEFAULT_SCOPES
    else:
        auth = _redeem_code(state, params.require("code"), params.require("redirect_uri"), now)
        if auth.client_id != client_id:
            raise invalid_param("Error validating verification code.", 36008)
        user_id, scopes = auth.user_id, auth.scopes
    ttl = state.settings.user_token_ttl_s
    token = "EAA" + secrets.token_urlsafe(48)
    state.user_tokens[token] = IssuedToken(user_id, scopes, now, now + ttl)
    return {"access_token": token, "token_type": "bearer", "expires_in": ttl}


def _redeem_code(state: SandboxState, code: str, redirect_uri: str, now: float) -> AuthCode:
    auth = state.auth_codes.get(code)
    if auth is None:
        raise invalid_param("Invalid verification code format.")
    if auth.used:
        raise invalid_param("This authorization code has been used.", 36009)
    if now >= auth.expires_at:
        raise invalid_param("This authorization code has expired.", 36007)
    if auth.redirect_uri != redirect_uri:
        raise invalid_param(
            "Error validating verification code. Please make sure your redirect_uri is identical "
            "to the one you used in the OAuth dialog request",
            36008,
        )
    auth.used = True
    return auth


def debug_token(state: SandboxState, call: Call) -> JSONDict:
    """``GET /debug_token?input_token=...``."""
    token = call.params.require("input_token")
    now = state.now()
    data: JSONDict = {
        "app_id": state.settings.app_id or "sandbox-app",
        "type": "USER",
        "application": "Jobcast Graph Sandbox",
        "data_access_expires_at": int(now + DATA_ACCESS_TTL_S),
        "issued_at": int(now),
    }
    revoked = state.revoked_tokens.get(token)
    page = _page_for_token(state, token)
    issued = state.user_tokens.get(token)
    if page is not None:
        scopes: tuple[str, ...] = tuple(sorted(page.permissions or DEFAULT_SCOPES))
        data.update(type="PAGE", profile_id=page.account_id, expires_at=0, is_valid=True)
        data["user_id"] = page.user_id or state.default_user_id()
    elif issued is not None:
        expires = issued.expires_at
        data.update(
            expires_at=int(expires) if expires is not None else 0,
            is_valid=expires is None or now < expires,
            user_id=issued.user_id,
            issued_at=int(issued.issued_at),
        )
        scopes = issued.scopes
    else:
        # Permissive mode: an unknown token is a valid, never-expiring user token.
        data.update(expires_at=0, is_valid=True, user_id=state.default_user_id())
        scopes = DEFAULT_SCOPES
    if revoked is not None:
        data["is_valid"] = False
        data["error"] = {
            "code": 190,
            "message": invalid_token(revoked).message,
            "subcode": revoked,
        }
    data["scopes"] = list(scopes)
    data["granular_scopes"] = [{"scope": scope} for scope in scopes]
    return {"data": data}


def get_me(state: SandboxState, call: Call) -> JSONDict:
    """``GET /me``: the Page behind a page token, else the user behind the token."""
    page = _page_for_token(state, call.token)
    if page is not None:
        subject_id, name = page.account_id, state.account_name(page.account_id)
    else:
        subject_id = _user_for_token(state, call.token)
        name = state.user_names.get(subject_id, f"Sandbox User {subject_id}")
    out: JSONDict = {}
    for spec in call.params.fields("name,id"):
        if spec.name == "id":
            out["id"] = subject_id
        elif spec.name == "name":
            out["name"] = name
        else:
            raise nonexisting_field(spec.name, "Page" if page is not None else "User")
    return out


_PAGE_ENTRY_NODE: NodeFields[Account] = NodeFields(
    "Page",
    {
        "id": lambda _s, page, _f: page.account_id,
        "name": lambda state, page, _f: state.account_name(page.account_id),
        "access_token": lambda _s, page, _f: page.token or f"sandbox-page-token-{page.account_id}",
        "category": lambda _s, _p, _f: "Employment Agency",
        "category_list": lambda _s, _p, _f: [{"id": "2236", "name": "Employment Agency"}],
        "tasks": lambda _s, _p, _f: list(_PAGE_TASKS),
        "instagram_business_account": lambda _s, page, _f: (
            {"id": page.linked_instagram_id} if page.linked_instagram_id else None
        ),
    },
)


def me_accounts(state: SandboxState, call: Call) -> JSONDict:
    """``GET /me/accounts``: Pages the token's user manages, with page tokens and IG links.

    Pages registered without ``user_id`` are listed for the default (consenting) user.
    """
    if _page_for_token(state, call.token) is not None:
        raise nonexisting_field("accounts", "Page")
    user_id = _user_for_token(state, call.token)
    fields = call.params.fields("name,access_token,category,category_list,tasks,id")
    data = [
        render_fields(state, account, fields, _PAGE_ENTRY_NODE, account.account_id)
        for account in state.accounts.values()
        if account.platform == "facebook" and state.owner_user(account.account_id) == user_id
    ]
    result: JSONDict = {"data": data}
    if data:
        result["paging"] = {"cursors": {"before": "QVFIUmJlZm9yZQ", "after": "QVFIUmFmdGVy"}}
    return result

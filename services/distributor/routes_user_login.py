"""HTTP routes of Meta's user-token logins (start + callback), one pair per login:
Instagram Login (an Instagram professional account without a Facebook Page) and Threads'
own OAuth, each through its platform's consent dialog.

As for Facebook Login, `start` authenticates with the tenant's API key and the callback
with the signed, single-use `state`. The callback swaps the code for a short-lived token,
that for a long-lived one, reads the account it acts for (`/me`) and stores the token
encrypted. No answer ever contains a token.
"""

# No `from __future__ import annotations` here: FastAPI must see the real annotations of
# routes whose dependency is a closure.

from dataclasses import dataclass
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException

from jobcast.crypto import TokenCipher
from jobcast.graph.hosts import LoginKind
from jobcast.graph.user_login import UserLoginError, UserTokenLogin
from jobcast.tenancy import Tenant
from schemas.envelope import utcnow
from schemas.platforms import Platform
from services.distributor.connections import Emit, connect_accounts
from services.distributor.oauth import (
    INSTAGRAM_CALLBACK_PATH,
    THREADS_CALLBACK_PATH,
    NewConnection,
    StateSigner,
    callback_url,
    instagram_authorize_url,
)
from services.distributor.routes_connections import (
    AuthorizeUrl,
    Connected,
    ConnectionOut,
    DialogRedirect,
    dialog_answer,
    login_ready,
    redeem_state,
)
from services.distributor.settings import DistributorSettings
from services.distributor.verification import Logins


@dataclass(frozen=True, slots=True)
class UserLogin:
    """One login's routes: what it connects, through which dialog and client."""

    platform: Platform
    kind: LoginKind
    client: UserTokenLogin
    dialog_url: str
    app_id: str | None
    scopes: tuple[str, ...]
    callback_path: str
    what: str  # how the start route's summary names the account


def user_logins(settings: DistributorSettings, logins: Logins) -> list[UserLogin]:
    """Instagram Login and Threads, as configured."""
    return [
        UserLogin(
            Platform.INSTAGRAM, LoginKind.INSTAGRAM, logins.instagram,
            settings.instagram_dialog_url, settings.instagram_app_id,
            settings.instagram_oauth_scopes, INSTAGRAM_CALLBACK_PATH,
            "an Instagram professional account without a Facebook Page",
        ),
        UserLogin(
            Platform.THREADS, LoginKind.THREADS, logins.threads,
            settings.threads_dialog_url, settings.threads_app_id,
            settings.threads_oauth_scopes, THREADS_CALLBACK_PATH, "a Threads profile",
        ),
    ]  # fmt: skip


def user_login_router(
    settings: DistributorSettings,
    pool: asyncpg.Pool,
    *,
    cipher: TokenCipher | None,
    logins: Logins,
    emit: Emit,
    tenant_dependency: Any,
) -> APIRouter:
    """Every user-token login's start and callback routes."""
    router = APIRouter(tags=["connections"])
    signer = StateSigner(settings.secret_key, settings.oauth_state_ttl_seconds) if cipher else None
    for login in user_logins(settings, logins):
        _add_login_routes(router, settings, pool, login, signer, cipher, emit, tenant_dependency)
    return router


def _add_login_routes(  # noqa: PLR0917 (one login's wiring)
    router: APIRouter,
    settings: DistributorSettings,
    pool: asyncpg.Pool,
    login: UserLogin,
    signer: StateSigner | None,
    cipher: TokenCipher | None,
    emit: Emit,
    tenant_dependency: Any,
) -> None:
    """One login's routes; they answer 503 until its app and the key are set."""
    name = login.client.dialect.name
    slug = login.platform.value
    redirect_uri = callback_url(settings.public_url, login.callback_path)

    def ready() -> tuple[StateSigner, TokenCipher]:
        return login_ready(
            signer,
            cipher,
            configured=login.client.configured,
            unconfigured=f"{name} login is not configured: set {login.client.dialect.app_settings}",
        )

    @router.get(
        f"/v1/connections/{slug}/start",
        summary=f"Start {name} login ({login.what}): redirects to {name}'s consent dialog",
        response_model=AuthorizeUrl,
        responses={302: {"description": f"to the {name} dialog"}, 401: {}, 503: {}},
        name=f"start_{slug}_login",
    )
    async def start_login(
        tenant: Annotated[Tenant, Depends(tenant_dependency)],
        redirect: DialogRedirect = True,
    ) -> Any:
        state_signer, _ = ready()
        url = instagram_authorize_url(
            login.dialog_url,
            app_id=login.app_id or "",
            redirect_uri=redirect_uri,
            state=state_signer.issue(tenant.tenant_id),
            scopes=login.scopes,
        )
        return dialog_answer(url, redirect=redirect)

    @router.get(
        login.callback_path,
        summary=f"Where {name} sends the browser back: connects the account",
        response_model=Connected,
        responses={400: {}, 502: {}, 503: {}},
        name=f"{slug}_login_callback",
    )
    async def login_callback(
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> Connected:
        state_signer, token_cipher = ready()
        verified, code = await redeem_state(
            pool, state_signer, code, state,
            error=error, error_description=error_description, platform_name=name,
        )  # fmt: skip
        client = login.client
        try:
            grant = await client.exchange_code(code, redirect_uri)
            long_lived = await client.long_lived(grant.token)
            profile = await client.profile(long_lived.token)
        except UserLoginError as exc:
            raise HTTPException(502, f"{name} did not complete the connection: {exc}") from None
        account = NewConnection(
            login.platform,
            profile.user_id,
            profile.username,
            long_lived.token,
            login=login.kind,
            expires_at=long_lived.expires_at(utcnow()),
            # Threads reports no granted scopes: its dialog grants all it asked for or none.
            scopes=tuple(sorted(grant.scopes if client.dialect.reports_scopes else login.scopes)),
        )
        stored = await connect_accounts(
            pool, token_cipher, emit, verified.tenant_id, [account],
            reason=f"connected with {name} login",
        )  # fmt: skip
        return Connected(
            tenant_id=verified.tenant_id, connections=[ConnectionOut.of(c) for c in stored]
        )

"""HTTP routes of Instagram Login (start + callback): an Instagram professional account
without a Facebook Page, connected through Instagram's own consent dialog.

As for Facebook Login, `start` authenticates with the tenant's API key and the callback
with the signed, single-use `state`. No answer ever contains a token.
"""

# No `from __future__ import annotations` here: FastAPI must see the real annotations of
# routes whose dependency is a closure.

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import RedirectResponse

from jobcast.crypto import TokenCipher
from jobcast.graph.hosts import LoginKind
from jobcast.graph.instagram_login import InstagramLoginError
from jobcast.tenancy import Tenant
from schemas.envelope import utcnow
from schemas.platforms import Platform
from services.distributor.connections import Emit, connect_accounts
from services.distributor.oauth import (
    INSTAGRAM_CALLBACK_PATH,
    NewConnection,
    StateSigner,
    callback_url,
    instagram_authorize_url,
)
from services.distributor.routes_connections import (
    AuthorizeUrl,
    Connected,
    ConnectionOut,
    redeem_state,
)
from services.distributor.settings import DistributorSettings
from services.distributor.verification import Logins


def instagram_login_router(
    settings: DistributorSettings,
    pool: asyncpg.Pool,
    *,
    cipher: TokenCipher | None,
    logins: Logins,
    emit: Emit,
    tenant_dependency: Any,
) -> APIRouter:
    """Instagram Login; answers 503 until the Instagram app and the key are set."""
    router = APIRouter(tags=["connections"])
    signer = StateSigner(settings.secret_key, settings.oauth_state_ttl_seconds) if cipher else None
    instagram_redirect_uri = callback_url(settings.public_url, INSTAGRAM_CALLBACK_PATH)

    def instagram_ready() -> tuple[StateSigner, TokenCipher]:
        if signer is None or cipher is None:
            raise HTTPException(503, "connections are unavailable: JOBCAST_SECRET_KEY is not set")
        if not logins.instagram.configured:
            raise HTTPException(
                503,
                "Instagram Login is not configured: set INSTAGRAM_APP_ID and INSTAGRAM_APP_SECRET",
            )
        return signer, cipher

    @router.get(
        "/v1/connections/instagram/start",
        summary="Start Instagram Login (an Instagram professional account without a Facebook "
        "Page): redirects to Instagram's consent dialog",
        response_model=AuthorizeUrl,
        responses={302: {"description": "to the Instagram dialog"}, 401: {}, 503: {}},
    )
    async def start_instagram_login(
        tenant: Annotated[Tenant, Depends(tenant_dependency)],
        redirect: Annotated[bool, Query(description="false: answer the URL as JSON")] = True,
    ) -> Any:
        state_signer, _ = instagram_ready()
        url = instagram_authorize_url(
            settings.instagram_dialog_url,
            app_id=settings.instagram_app_id or "",
            redirect_uri=instagram_redirect_uri,
            state=state_signer.issue(tenant.tenant_id),
            scopes=settings.instagram_oauth_scopes,
        )
        if redirect:
            return RedirectResponse(url, status_code=302)
        return AuthorizeUrl(authorize_url=url)

    @router.get(
        INSTAGRAM_CALLBACK_PATH,
        summary="Where Instagram sends the browser back: connects the Instagram account",
        response_model=Connected,
        responses={400: {}, 502: {}, 503: {}},
    )
    async def instagram_login_callback(
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> Connected:
        state_signer, token_cipher = instagram_ready()
        verified, code = await redeem_state(
            pool, state_signer, code, state,
            error=error, error_description=error_description, platform_name="Instagram",
        )  # fmt: skip
        instagram = logins.instagram
        try:
            grant = await instagram.exchange_code(code, instagram_redirect_uri)
            long_lived = await instagram.long_lived(grant.token)
            profile = await instagram.profile(long_lived.token)
        except InstagramLoginError as exc:
            raise HTTPException(502, f"Instagram did not complete the connection: {exc}") from None
        account = NewConnection(
            Platform.INSTAGRAM,
            profile.user_id,
            profile.username,
            long_lived.token,
            login=LoginKind.INSTAGRAM,
            expires_at=long_lived.expires_at(utcnow()),
            scopes=tuple(sorted(grant.scopes)),
        )
        stored = await connect_accounts(
            pool, token_cipher, emit, verified.tenant_id, [account],
            reason="connected with Instagram Login",
        )  # fmt: skip
        return Connected(
            tenant_id=verified.tenant_id, connections=[ConnectionOut.of(c) for c in stored]
        )

    return router

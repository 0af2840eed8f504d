"""HTTP routes for connections: Facebook Login (start + callback; Instagram Login and
Threads' are in `routes_user_login`), list, verify, remove.

`start` and the tenant routes authenticate with the tenant's API key; a callback is
reached by the user's browser coming back from Facebook or Instagram, so the signed,
single-use `state` is what proves which tenant it is for. No answer ever contains a token.
"""

# No `from __future__ import annotations` here: FastAPI must see the real annotations of
# routes whose dependency is a closure.

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from jobcast.crypto import TokenCipher
from jobcast.graph.client import GraphError
from jobcast.tenancy import Tenant
from schemas.envelope import utcnow
from services.distributor.connections import Emit, connect_accounts, disconnect
from services.distributor.models import Connection
from services.distributor.oauth import (
    CALLBACK_PATH,
    InvalidStateError,
    OAuthState,
    StateSigner,
    authorize_url,
    callback_url,
    connections_from_pages,
)
from services.distributor.repo import consume_oauth_nonce, get_connection, list_connections
from services.distributor.settings import DistributorSettings
from services.distributor.token_lifecycle import expiry_state
from services.distributor.verification import Logins, Windows, verify_once


class ConnectionOut(BaseModel):
    """A connection as tenants see it: never its token."""

    connection_id: UUID
    platform: str
    login: str  # facebook, instagram or threads: which login made it (and which host it posts to)
    account_id: str
    display_name: str
    status: str
    token_expires_at: datetime | None
    last_verified_at: datetime | None
    last_verify_error: str

    @classmethod
    def of(cls, connection: Connection) -> "ConnectionOut":
        return cls(
            connection_id=connection.connection_id,
            platform=connection.platform.value,
            login=connection.login.value,
            account_id=connection.account_id,
            display_name=connection.display_name,
            status=connection.status,
            token_expires_at=connection.token_expires_at,
            last_verified_at=connection.last_verified_at,
            last_verify_error=connection.last_verify_error,
        )


class ConnectionList(BaseModel):
    connections: list[ConnectionOut]


class Connected(BaseModel):
    tenant_id: UUID
    connections: list[ConnectionOut]


class AuthorizeUrl(BaseModel):
    authorize_url: str


class Removed(BaseModel):
    connection: ConnectionOut


class Verification(BaseModel):
    """A connection's token, checked with Meta just now (refreshed first when due)."""

    connection: ConnectionOut
    checked: bool  # false: Meta could not be asked (`error` says why); nothing changed
    valid: bool | None
    expires_at: datetime | None  # null: does not expire on a clock
    expiry: str  # never, fine, expiring (within the warning window) or expired
    scopes: list[str]
    missing_scopes: list[str]
    problem: str
    refreshed: bool  # a new token (with a new expiry) was obtained by this check
    refresh_error: str
    error: str


async def redeem_state(
    pool: asyncpg.Pool,
    state_signer: StateSigner,
    code: str | None,
    state: str | None,
    *,
    error: str | None,
    error_description: str | None,
    platform_name: str,
) -> tuple[OAuthState, str]:
    """The tenant a callback is for and its code, once its state is checked and used up."""
    if error:
        why = f"{error}: {error_description}" if error_description else error
        raise HTTPException(
            400,
            f"{platform_name} Login was declined ({why[:200]}); nothing was connected. "
            "Start again and accept the permissions to connect your accounts.",
        )
    if not code or not state:
        raise HTTPException(400, "the callback needs both `code` and `state`")
    try:
        verified = state_signer.verify(state)
    except InvalidStateError as exc:
        raise HTTPException(400, f"invalid OAuth state: {exc}") from None
    if not await consume_oauth_nonce(pool, verified.nonce, verified.tenant_id, verified.expires_at):
        raise HTTPException(400, "OAuth state already used: start the connection again")
    return verified, code


DialogRedirect = Annotated[bool, Query(description="false: answer the URL as JSON")]
"""A start route's `redirect` query flag."""


def login_ready(
    signer: StateSigner | None, cipher: TokenCipher | None, *, configured: bool, unconfigured: str
) -> tuple[StateSigner, TokenCipher]:
    """The state signer and token cipher a login needs, or 503 (no key, or `unconfigured`
    while its app is not set)."""
    if signer is None or cipher is None:
        raise HTTPException(503, "connections are unavailable: JOBCAST_SECRET_KEY is not set")
    if not configured:
        raise HTTPException(503, unconfigured)
    return signer, cipher


def dialog_answer(url: str, *, redirect: bool) -> Any:
    """A start route's answer: the browser sent to the dialog, or its URL as JSON."""
    if redirect:
        return RedirectResponse(url, status_code=302)
    return AuthorizeUrl(authorize_url=url)


def connections_router(
    settings: DistributorSettings,
    pool: asyncpg.Pool,
    *,
    cipher: TokenCipher | None,
    logins: Logins,
    emit: Emit,
    tenant_dependency: Any,
) -> APIRouter:
    """The connections API; each login answers 503 until its app and the key are set."""
    router = APIRouter(tags=["connections"])
    signer = StateSigner(settings.secret_key, settings.oauth_state_ttl_seconds) if cipher else None
    redirect_uri = callback_url(settings.public_url)
    graph = logins.facebook
    windows = Windows(
        timedelta(seconds=settings.expiry_warning_seconds),
        timedelta(seconds=settings.refresh_before_seconds),
    )

    def ready() -> tuple[StateSigner, TokenCipher]:
        return login_ready(
            signer,
            cipher,
            configured=graph.configured,
            unconfigured="Facebook Login is not configured: set GRAPH_APP_ID and GRAPH_APP_SECRET",
        )

    @router.get(
        "/v1/connections/facebook/start",
        summary="Start Facebook Login: redirects to the consent dialog",
        response_model=AuthorizeUrl,
        responses={302: {"description": "to the Facebook dialog"}, 401: {}, 503: {}},
    )
    async def start_facebook_login(
        tenant: Annotated[Tenant, Depends(tenant_dependency)],
        redirect: DialogRedirect = True,
    ) -> Any:
        state_signer, _ = ready()
        url = authorize_url(
            settings.oauth_dialog_url,
            version=settings.graph_api_version,
            app_id=settings.graph_app_id or "",
            redirect_uri=redirect_uri,
            state=state_signer.issue(tenant.tenant_id),
            scopes=settings.oauth_scopes,
        )
        return dialog_answer(url, redirect=redirect)

    @router.get(
        CALLBACK_PATH,
        summary="Where Facebook sends the browser back: connects every Page (and its IG)",
        response_model=Connected,
        responses={400: {}, 502: {}, 503: {}},
    )
    async def facebook_login_callback(
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> Connected:
        state_signer, token_cipher = ready()
        verified, code = await redeem_state(
            pool, state_signer, code, state,
            error=error, error_description=error_description, platform_name="Facebook",
        )  # fmt: skip
        try:
            short_lived = await graph.exchange_code(code, redirect_uri)
            user_token = await graph.long_lived_user_token(short_lived)
            pages = await graph.pages(user_token)
        except GraphError as exc:
            raise HTTPException(502, f"Facebook did not complete the connection: {exc}") from None
        stored = await connect_accounts(
            pool,
            token_cipher,
            emit,
            verified.tenant_id,
            connections_from_pages(pages),
            reason="connected with Facebook Login",
        )
        return Connected(
            tenant_id=verified.tenant_id, connections=[ConnectionOut.of(c) for c in stored]
        )

    @router.get(
        "/v1/connections/{connection_id}/verify",
        summary="Check a connection's token with Meta now (refreshing it first when due): "
        "validity, scopes, expiry",
        response_model=Verification,
        responses={401: {}, 404: {}, 503: {}},
    )
    async def verify_connection(
        connection_id: UUID, tenant: Annotated[Tenant, Depends(tenant_dependency)]
    ) -> Verification:
        if cipher is None:
            raise HTTPException(503, "connections are unavailable: JOBCAST_SECRET_KEY is not set")
        outcomes = await verify_once(
            pool, cipher, logins, emit,
            tenant_id=tenant.tenant_id, connection_id=connection_id, warning=windows,
        )  # fmt: skip
        if not outcomes:
            raise HTTPException(404, "no such connection")
        outcome = outcomes[0]
        connection = await get_connection(pool, tenant.tenant_id, connection_id)
        connection = connection or outcome.connection
        health = outcome.health
        expires_at = health.expires_at if health else connection.token_expires_at
        return Verification(
            connection=ConnectionOut.of(connection),
            checked=health is not None,
            valid=health.valid if health else None,
            expires_at=expires_at,
            expiry=expiry_state(expires_at, now=utcnow(), warning=windows.warning).value,
            scopes=list(health.scopes) if health else list(connection.token_scopes),
            missing_scopes=list(health.missing_scopes) if health else [],
            problem=health.problem if health else "",
            refreshed=outcome.refreshed,
            refresh_error=outcome.refresh_error,
            error=outcome.error,
        )

    @router.get(
        "/v1/connections",
        summary="The tenant's connections (removed ones left out)",
        response_model=ConnectionList,
        responses={401: {}},
    )
    async def get_connections(
        tenant: Annotated[Tenant, Depends(tenant_dependency)],
    ) -> ConnectionList:
        connections = await list_connections(pool, tenant.tenant_id)
        return ConnectionList(
            connections=[ConnectionOut.of(c) for c in connections if c.status != "removed"]
        )

    @router.delete(
        "/v1/connections/{connection_id}",
        summary="Disconnect an account: its token is erased and nothing more is sent to it",
        response_model=Removed,
        responses={401: {}, 404: {}},
    )
    async def delete_connection(
        connection_id: UUID, tenant: Annotated[Tenant, Depends(tenant_dependency)]
    ) -> Removed:
        removed = await disconnect(
            pool, emit, tenant.tenant_id, connection_id, reason="removed through the API"
        )
        if removed is None:
            raise HTTPException(404, "no such connection")
        return Removed(connection=ConnectionOut.of(removed))

    return router

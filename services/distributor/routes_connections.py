"""HTTP routes for connections: Facebook Login (start + callback), list, remove.

`start` and the tenant routes authenticate with the tenant's API key; the callback is
reached by the user's browser coming back from Facebook, so the signed, single-use `state`
is what proves which tenant it is for. No answer ever contains a token.
"""

# No `from __future__ import annotations` here: FastAPI must see the real annotations of
# routes whose dependency is a closure.

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import RedirectResponse
from pydantic import BaseModel

from jobcast.crypto import TokenCipher
from jobcast.graph.client import GraphError
from jobcast.graph.login import FacebookGraph
from jobcast.tenancy import Tenant
from services.distributor.connections import Emit, connect_accounts, disconnect
from services.distributor.models import Connection
from services.distributor.oauth import (
    CALLBACK_PATH,
    InvalidStateError,
    StateSigner,
    authorize_url,
    callback_url,
    connections_from_pages,
)
from services.distributor.repo import consume_oauth_nonce, list_connections
from services.distributor.settings import DistributorSettings


class ConnectionOut(BaseModel):
    """A connection as tenants see it: never its token."""

    connection_id: UUID
    platform: str
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


def connections_router(
    settings: DistributorSettings,
    pool: asyncpg.Pool,
    *,
    cipher: TokenCipher | None,
    graph: FacebookGraph,
    emit: Emit,
    tenant_dependency: Any,
) -> APIRouter:
    """The connections API; Facebook Login answers 503 until the app and key are set."""
    router = APIRouter(tags=["connections"])
    signer = StateSigner(settings.secret_key, settings.oauth_state_ttl_seconds) if cipher else None
    redirect_uri = callback_url(settings.public_url)

    def login_ready() -> tuple[StateSigner, TokenCipher]:
        if signer is None or cipher is None:
            raise HTTPException(503, "connections are unavailable: JOBCAST_SECRET_KEY is not set")
        if not graph.configured:
            raise HTTPException(
                503, "Facebook Login is not configured: set GRAPH_APP_ID and GRAPH_APP_SECRET"
            )
        return signer, cipher

    @router.get(
        "/v1/connections/facebook/start",
        summary="Start Facebook Login: redirects to the consent dialog",
        response_model=AuthorizeUrl,
        responses={302: {"description": "to the Facebook dialog"}, 401: {}, 503: {}},
    )
    async def start_facebook_login(
        tenant: Annotated[Tenant, Depends(tenant_dependency)],
        redirect: Annotated[bool, Query(description="false: answer the URL as JSON")] = True,
    ) -> Any:
        state_signer, _ = login_ready()
        url = authorize_url(
            settings.oauth_dialog_url,
            version=settings.graph_api_version,
            app_id=settings.graph_app_id or "",
            redirect_uri=redirect_uri,
            state=state_signer.issue(tenant.tenant_id),
            scopes=settings.oauth_scopes,
        )
        if redirect:
            return RedirectResponse(url, status_code=302)
        return AuthorizeUrl(authorize_url=url)

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
        state_signer, token_cipher = login_ready()
        if error:
            why = f"{error}: {error_description}" if error_description else error
            raise HTTPException(
                400,
                f"Facebook Login was declined ({why[:200]}); nothing was connected. "
                "Start again and accept the permissions to connect your Pages.",
            )
        if not code or not state:
            raise HTTPException(400, "the callback needs both `code` and `state`")
        try:
            verified = state_signer.verify(state)
        except InvalidStateError as exc:
            raise HTTPException(400, f"invalid OAuth state: {exc}") from None
        if not await consume_oauth_nonce(
            pool, verified.nonce, verified.tenant_id, verified.expires_at
        ):
            raise HTTPException(400, "OAuth state already used: start the connection again")
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

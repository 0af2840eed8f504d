"""HTTP routes of LinkedIn's 3-legged OAuth (start, callback, choose): a LinkedIn
organization page connected through the member's consent.

`start` and `choose` authenticate with the tenant's API key, the callback with the signed,
single-use `state`. A member who administers one organization has it connected at once;
one who administers several gets the list and the tenant chooses (`choose`), while the
consent's tokens wait encrypted for a few minutes. No answer ever contains a token.
"""

# No `from __future__ import annotations` here: FastAPI must see the real annotations of
# routes whose dependency is a closure.

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from jobcast.crypto import TokenCipher
from jobcast.graph.hosts import LoginKind
from jobcast.linkedin.login import LinkedInLoginError, Organization, authorize_url
from jobcast.tenancy import Tenant
from schemas.envelope import utcnow
from schemas.platforms import Platform
from services.distributor.connections import Emit, connect_accounts
from services.distributor.oauth import (
    LINKEDIN_CALLBACK_PATH,
    NewConnection,
    StateSigner,
    callback_url,
)
from services.distributor.repo_grants import HeldGrant, hold_grant, take_grant
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


class OrganizationOut(BaseModel):
    organization_id: str
    name: str


class OrganizationChoice(BaseModel):
    """The organizations the member administers; `choose` connects one of them."""

    grant_id: UUID
    organizations: list[OrganizationOut]
    expires_at: datetime


class LinkedInConnected(Connected):
    """The connected organization, or (`choice`) the ones to choose from first."""

    choice: OrganizationChoice | None = None


class Choose(BaseModel):
    grant_id: UUID
    organization_id: str = Field(min_length=1, max_length=64, pattern=r"^\d+$")


def linkedin_router(
    settings: DistributorSettings,
    pool: asyncpg.Pool,
    *,
    cipher: TokenCipher | None,
    logins: Logins,
    emit: Emit,
    tenant_dependency: Any,
) -> APIRouter:
    """LinkedIn's OAuth; answers 503 until the LinkedIn app and the key are set."""
    router = APIRouter(tags=["connections"])
    signer = StateSigner(settings.secret_key, settings.oauth_state_ttl_seconds) if cipher else None
    redirect_uri = callback_url(settings.public_url, LINKEDIN_CALLBACK_PATH)
    hold_for = timedelta(seconds=settings.oauth_state_ttl_seconds)

    def ready() -> tuple[StateSigner, TokenCipher]:
        return login_ready(
            signer,
            cipher,
            configured=logins.linkedin.configured,
            unconfigured="LinkedIn is not configured: set LINKEDIN_CLIENT_ID and "
            "LINKEDIN_CLIENT_SECRET",
        )

    async def connect(
        token_cipher: TokenCipher, tenant_id: UUID, organization: Organization, grant: HeldGrant
    ) -> LinkedInConnected:
        account = NewConnection(
            Platform.LINKEDIN,
            organization.organization_id,
            organization.name,
            token_cipher.decrypt(grant.token_ciphertext),
            login=LoginKind.LINKEDIN,
            expires_at=grant.token_expires_at,
            scopes=grant.scopes,
            refresh_token=(
                token_cipher.decrypt(grant.refresh_ciphertext) if grant.refresh_ciphertext else None
            ),
            refresh_expires_at=grant.refresh_expires_at,
        )
        stored = await connect_accounts(
            pool, token_cipher, emit, tenant_id, [account], reason="connected with LinkedIn"
        )
        return LinkedInConnected(
            tenant_id=tenant_id, connections=[ConnectionOut.of(c) for c in stored]
        )

    @router.get(
        "/v1/connections/linkedin/start",
        summary="Start connecting a LinkedIn organization page: redirects to LinkedIn's "
        "consent dialog",
        response_model=AuthorizeUrl,
        responses={302: {"description": "to LinkedIn's dialog"}, 401: {}, 503: {}},
    )
    async def start_linkedin(
        tenant: Annotated[Tenant, Depends(tenant_dependency)],
        redirect: DialogRedirect = True,
    ) -> Any:
        state_signer, _ = ready()
        url = authorize_url(
            settings.linkedin_oauth_url,
            client_id=settings.linkedin_client_id or "",
            redirect_uri=redirect_uri,
            state=state_signer.issue(tenant.tenant_id),
            scopes=settings.linkedin_oauth_scopes,
        )
        return dialog_answer(url, redirect=redirect)

    @router.get(
        LINKEDIN_CALLBACK_PATH,
        summary="Where LinkedIn sends the browser back: connects the organization the member "
        "administers, or answers the ones to choose from",
        response_model=LinkedInConnected,
        responses={400: {}, 502: {}, 503: {}},
    )
    async def linkedin_callback(
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> LinkedInConnected:
        state_signer, token_cipher = ready()
        verified, code = await redeem_state(
            pool, state_signer, code, state,
            error=error, error_description=error_description, platform_name="LinkedIn",
        )  # fmt: skip
        try:
            grant = await logins.linkedin.exchange_code(code, redirect_uri)
            organizations = await logins.linkedin.organizations(grant.access_token)
        except LinkedInLoginError as exc:
            raise HTTPException(502, f"LinkedIn did not complete the connection: {exc}") from None
        if not organizations:
            raise HTTPException(
                400,
                "the LinkedIn member administers no organization page; nothing was connected. "
                "A page's administrator must connect it.",
            )
        now = utcnow()
        held = await hold_grant(
            pool,
            token_cipher,
            tenant_id=verified.tenant_id,
            token=grant.access_token,
            token_expires_at=grant.expires_at(now),
            refresh_token=grant.refresh_token,
            refresh_expires_at=grant.refresh_expires_at(now),
            scopes=tuple(sorted(grant.scopes)),
            organizations={o.organization_id: o.name for o in organizations},
            expires_at=now + hold_for,
        )
        if len(organizations) == 1:
            taken = await take_grant(
                pool, verified.tenant_id, held, organizations[0].organization_id
            )
            assert taken is not None  # just held, for this organization
            return await connect(token_cipher, verified.tenant_id, organizations[0], taken)
        return LinkedInConnected(
            tenant_id=verified.tenant_id,
            connections=[],
            choice=OrganizationChoice(
                grant_id=held,
                organizations=[
                    OrganizationOut(organization_id=o.organization_id, name=o.name)
                    for o in organizations
                ],
                expires_at=now + hold_for,
            ),
        )

    @router.post(
        "/v1/connections/linkedin/choose",
        summary="Connect the chosen one of the organizations a LinkedIn consent offered",
        response_model=LinkedInConnected,
        responses={401: {}, 404: {}, 503: {}},
    )
    async def choose_organization(
        body: Choose, tenant: Annotated[Tenant, Depends(tenant_dependency)]
    ) -> LinkedInConnected:
        _, token_cipher = ready()
        taken = await take_grant(pool, tenant.tenant_id, body.grant_id, body.organization_id)
        if taken is None:
            raise HTTPException(
                404,
                "no such choice for this organization (it expired or was made already): "
                "connect LinkedIn again",
            )
        organization = Organization(
            body.organization_id, taken.organizations.get(body.organization_id, "")
        )
        return await connect(token_cipher, tenant.tenant_id, organization, taken)

    return router

"""Outbound webhook registration (operator-scope keys): set, read, remove, replay dead."""

# No `from __future__ import annotations` here: FastAPI must see the dependency closures.
from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Body, Depends, HTTPException, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field

from jobcast.auth import CallerDependency
from jobcast.crypto import TokenCipher
from jobcast.tenancy import Caller
from services.metrics.webhooks.domain import acceptable_webhook_url
from services.metrics.webhooks.repo import (
    endpoint_of,
    register_endpoint,
    remove_endpoint,
    replay_dead,
)


class WebhookRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=8, max_length=2000)]


class WebhookRegistered(BaseModel):
    url: str
    secret: str = Field(description="Signs every delivery; shown only in this answer")


class DeliveryCounts(BaseModel):
    pending: int
    delivered: int
    dead: int


class WebhookEndpointView(BaseModel):
    url: str
    created_at: datetime
    updated_at: datetime
    deliveries: DeliveryCounts


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    delivery_id: UUID | None = Field(default=None, description="One delivery; absent: all dead")


class ReplayAnswer(BaseModel):
    replayed: int


def webhooks_router(
    pool: asyncpg.Pool,
    cipher: TokenCipher,
    operator: CallerDependency,
    *,
    allow_insecure: bool,
    allow_loopback: bool = False,
) -> APIRouter:
    """`/v1/webhooks`: the tenant's endpoint for post.* and engagement.updated events."""
    router = APIRouter()
    caller = Depends(operator)

    @router.put("/v1/webhooks", response_model=WebhookRegistered, status_code=201)
    async def register(
        who: Annotated[Caller, caller], registration: WebhookRegistration
    ) -> WebhookRegistered:
        """Set the URL and get a new signing secret (replaces any earlier URL and secret)."""
        problem = acceptable_webhook_url(
            registration.url, allow_insecure=allow_insecure, allow_loopback=allow_loopback
        )
        if problem:
            # A field error like the body's own validation (the URL is not echoed: its
            # path or query may hold a token).
            raise RequestValidationError(
                [{"type": "value_error", "loc": ("body", "url"), "msg": f"url {problem}"}]
            )
        secret = await register_endpoint(pool, cipher, who.tenant.tenant_id, registration.url)
        return WebhookRegistered(url=registration.url, secret=secret)

    @router.get("/v1/webhooks", response_model=WebhookEndpointView)
    async def show(who: Annotated[Caller, caller]) -> WebhookEndpointView:
        """The registered URL and how its deliveries stand (the secret is never shown)."""
        endpoint = await endpoint_of(pool, who.tenant.tenant_id)
        if endpoint is None:
            raise HTTPException(404, "no webhook registered")
        return WebhookEndpointView(
            url=endpoint.url,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
            deliveries=DeliveryCounts(
                pending=endpoint.pending, delivered=endpoint.delivered, dead=endpoint.dead
            ),
        )

    @router.delete("/v1/webhooks", status_code=204)
    async def remove(who: Annotated[Caller, caller]) -> Response:
        """Stop sending; pending deliveries are dropped (dead)."""
        if not await remove_endpoint(pool, who.tenant.tenant_id):
            raise HTTPException(404, "no webhook registered")
        return Response(status_code=204)

    @router.post("/v1/webhooks/replay", response_model=ReplayAnswer)
    async def replay(
        who: Annotated[Caller, caller],
        request: Annotated[ReplayRequest | None, Body()] = None,
    ) -> ReplayAnswer:
        """Send dead deliveries again (tries start over)."""
        delivery = request.delivery_id if request else None
        return ReplayAnswer(replayed=await replay_dead(pool, who.tenant.tenant_id, delivery))

    return router

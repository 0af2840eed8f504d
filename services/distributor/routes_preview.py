"""`POST /v1/preview`: what every connection of the tenant would get for a job, no side effects.

(No `from __future__ import annotations` here: FastAPI resolves the closure's dependency
annotations at runtime.)
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends
from pydantic import BaseModel

from jobcast.tenancy import Tenant
from schemas.jobs import JobPosting
from schemas.publish import PostContent
from services.distributor.clock import Clock
from services.distributor.content import format_datetime_local
from services.distributor.domain import preview
from services.distributor.repo import list_connections
from services.distributor.repo_profiles import get_profile
from services.distributor.schedule import resolve_due


class WarningView(BaseModel):
    code: str
    message: str


class ConnectionPreview(BaseModel):
    connection_id: UUID
    platform: str
    account_id: str
    display_name: str
    connection_status: str
    outcome: Literal["post", "skip"]
    skip_reason: str | None
    content: PostContent | None
    apply_url: str | None
    warnings: list[WarningView]


class PreviewView(BaseModel):
    job_id: str
    scheduled_for: datetime | None  # UTC; None means "as soon as it arrives"
    scheduled_for_local: str | None  # the same instant in the tenant's locale and zone
    requires_approval: bool
    connections: list[ConnectionPreview]


def preview_router(pool: asyncpg.Pool, clock: Clock, tenant_dependency: Any) -> APIRouter:
    router = APIRouter()

    @router.post("/v1/preview", response_model=PreviewView)
    async def preview_job(
        job: JobPosting, tenant: Annotated[Tenant, Depends(tenant_dependency)]
    ) -> PreviewView:
        """Format a job for every connection the tenant has, with warnings; nothing is stored."""
        profile = await get_profile(pool, tenant.tenant_id)
        connections = [
            c for c in await list_connections(pool, tenant.tenant_id) if c.status != "removed"
        ]
        due = (
            resolve_due(job.publish_at, job.timezone, clock.now())
            if job.publish_at is not None
            else None
        )
        return PreviewView(
            job_id=job.job_id,
            scheduled_for=due,
            scheduled_for_local=format_datetime_local(due, profile) if due else None,
            requires_approval=profile.require_approval,
            connections=[
                ConnectionPreview(
                    connection_id=p.connection.connection_id,
                    platform=p.connection.platform.value,
                    account_id=p.connection.account_id,
                    display_name=p.connection.display_name,
                    connection_status=p.connection.status,
                    outcome="skip" if p.skip_reason else "post",
                    skip_reason=p.skip_reason,
                    content=p.content,
                    apply_url=p.apply_url,
                    warnings=[WarningView(code=w.code, message=w.message) for w in p.warnings],
                )
                for p in preview(job, profile, connections)
            ],
        )

    return router

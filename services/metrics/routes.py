"""The tenant-scoped read API."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends
from pydantic import BaseModel

from jobcast.tenancy import Tenant
from services.metrics.repo import posts_of_job


class PostError(BaseModel):
    error_class: str
    code: int | None
    subcode: int | None
    message: str | None


class PostView(BaseModel):
    post_key: str
    platform: str
    connection_id: UUID
    status: str
    attempt: int
    platform_post_id: str | None
    permalink: str | None
    error: PostError | None
    updated_at: datetime


class JobPostsView(BaseModel):
    job_id: str
    posts: list[PostView]


def read_router(pool: asyncpg.Pool, tenant_dependency: Any) -> APIRouter:
    """`GET /v1/jobs/{job_id}/posts`: where a job was posted, per connection."""
    router = APIRouter()

    @router.get("/v1/jobs/{job_id}/posts", response_model=JobPostsView)
    async def job_posts(
        job_id: str, tenant: Annotated[Tenant, Depends(tenant_dependency)]
    ) -> JobPostsView:
        rows = await posts_of_job(pool, tenant.tenant_id, job_id)
        return JobPostsView(job_id=job_id, posts=[_view(r) for r in rows])

    return router


def _view(row: dict[str, Any]) -> PostView:
    error = (
        PostError(
            error_class=row["error_class"],
            code=row["error_code"],
            subcode=row["error_subcode"],
            message=row["error_message"],
        )
        if row["error_class"]
        else None
    )
    return PostView(**{k: v for k, v in row.items() if not k.startswith("error")}, error=error)

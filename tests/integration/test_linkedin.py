"""LinkedIn organization pages end to end: the real pipeline, the LinkedIn sandbox."""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from devtools.stack import Endpoints
from jobcast.crypto import TokenCipher
from jobcast.graph.hosts import LoginKind
from jobcast.tenancy import create_tenant, migrate_tenancy
from schemas import Platform, PublishAction
from services.distributor.repo import add_connection, migrate_distributor
from tests.integration.helpers import add_fault, job_event, wait_for_posts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PERMALINK = "https://www.linkedin.com/feed/update/urn:li:share:"


async def linkedin_tenant(db: asyncpg.Pool, pipeline: Endpoints) -> tuple[dict[str, str], str]:
    """A tenant whose one connection is a LinkedIn organization (inserted as OAuth would)."""
    await migrate_tenancy(db)
    await migrate_distributor(db)
    tenant, api_key = await create_tenant(db, f"t-{uuid.uuid4().hex[:10]}")
    organization = str(random.randint(10_000_000, 99_999_999))
    await add_connection(
        db, TokenCipher(SecretStr(pipeline.secret_key)), tenant_id=tenant.tenant_id,
        platform=Platform.LINKEDIN, account_id=organization, token=f"li-token-{organization}",
        login=LoginKind.LINKEDIN, token_scopes=("w_organization_social",),
    )  # fmt: skip
    return {"Authorization": f"Bearer {api_key}"}, organization


async def posts_of(http: httpx.AsyncClient, pipeline: Endpoints, organization: str) -> list[Any]:
    """The organization's live posts on the LinkedIn sandbox."""
    response = await http.get(
        f"{pipeline.graph_api_url}/_sandbox/linkedin/ledger",
        params={"organization_id": organization, "include_deleted": "false"},
    )
    assert response.status_code == 200, response.text
    posts: list[Any] = response.json()["posts"]
    return posts


async def outcome_of(db: asyncpg.Pool, job_id: str, action: PublishAction) -> str:
    """The read model's status of the job's `action` once it is at rest (≤ 60 s)."""
    async with asyncio.timeout(60):
        while True:
            status = await db.fetchval(
                "SELECT status FROM metrics.job_posts WHERE job_id = $1 AND action = $2",
                job_id, action.value,
            )  # fmt: skip
            if status is not None and status != "retry_scheduled":
                return str(status)
            await asyncio.sleep(0.2)


async def submit(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], event: Any
) -> None:
    response = await http.post(f"{pipeline.url('ingest')}/v1/job-events", json=event, headers=auth)
    assert response.status_code == 202, response.text


async def test_a_job_is_posted_once_on_the_organization_page(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, organization = await linkedin_tenant(db, pipeline)
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        await submit(http, pipeline, auth, job_event(job_id))
        [post] = await wait_for_posts(http, pipeline, auth, job_id, 1)
        assert (post["platform"], post["status"]) == ("linkedin", "posted"), post
        assert post["permalink"] == f"{PERMALINK}{post['platform_post_id'].rsplit(':', 1)[1]}/"
        [on_linkedin] = await posts_of(http, pipeline, organization)
        assert on_linkedin["id"] == post["platform_post_id"]
        assert job_id in on_linkedin["commentary"]
        # The job's image went up first (fetched through the sandbox's media relay).
        assert on_linkedin["content"]["media"]["id"].startswith("urn:li:image:")

        await submit(http, pipeline, auth, job_event(job_id))  # a replay: same post key
        await asyncio.sleep(3)
        assert len(await posts_of(http, pipeline, organization)) == 1


async def test_a_please_retry_after_the_post_was_made_is_reconciled_not_reposted(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, organization = await linkedin_tenant(db, pipeline)
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(
            http, pipeline, action="http_500_after_create", operation="li.posts.create",
            account_id=organization,
        )  # fmt: skip
        await submit(http, pipeline, auth, job_event(job_id))
        [post] = await wait_for_posts(http, pipeline, auth, job_id, 1)
        assert post["status"] == "posted", post
        [on_linkedin] = await posts_of(http, pipeline, organization)
        assert on_linkedin["id"] == post["platform_post_id"]


async def test_an_update_edits_and_a_close_deletes_the_post(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, organization = await linkedin_tenant(db, pipeline)
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        await submit(http, pipeline, auth, job_event(job_id))
        await wait_for_posts(http, pipeline, auth, job_id, 1)
        updated = job_event(job_id, revision=2, title=f"Head cook {job_id}")
        updated["event_type"] = "job.updated"
        await submit(http, pipeline, auth, updated)
        assert await outcome_of(db, job_id, PublishAction.EDIT) == "edited"
        [edited] = await posts_of(http, pipeline, organization)
        assert "Head cook" in edited["commentary"]
        closed = {"event_type": "job.closed", "payload": {"job_id": job_id, "reason": "filled"}}
        await submit(http, pipeline, auth, closed)
        assert await outcome_of(db, job_id, PublishAction.DELETE) == "deleted"
        assert await posts_of(http, pipeline, organization) == []

"""One job, four platforms: a tenant with a Facebook Page, an Instagram account, a Threads
profile and a LinkedIn organization page gets one post on each, with its permalink in the
read API, and a replay of the event posts nothing more."""

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
from schemas import Platform
from services.distributor.repo import add_connection
from tests.integration.helpers import job_event, ledger, new_tenant, wait_for_posts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PERMALINK_PREFIX = {
    "facebook": "https://",
    "instagram": "https://",
    "threads": "https://",
    "linkedin": "https://www.linkedin.com/feed/update/urn:li:",
}


async def linkedin_posts(http: httpx.AsyncClient, pipeline: Endpoints, organization: str) -> Any:
    response = await http.get(
        f"{pipeline.graph_api_url}/_sandbox/linkedin/ledger",
        params={"organization_id": organization, "include_deleted": "false"},
    )
    assert response.status_code == 200, response.text
    return response.json()["posts"]


async def on_platform(
    http: httpx.AsyncClient, pipeline: Endpoints, accounts: dict[Platform, str]
) -> dict[Platform, int]:
    """How many live posts each account has on its platform (the sandboxes' ledgers)."""
    counts: dict[Platform, int] = {}
    for platform, account_id in accounts.items():
        if platform is Platform.LINKEDIN:
            counts[platform] = len(await linkedin_posts(http, pipeline, account_id))
        else:
            counts[platform] = len(await ledger(http, pipeline, account_id))
    return counts


async def test_a_job_is_posted_once_on_each_of_four_platforms(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline, threads=True)
    tenant_id = await db.fetchval(
        "SELECT tenant_id FROM distributor.connections WHERE account_id = $1",
        accounts[Platform.FACEBOOK],
    )
    organization = str(random.randint(10_000_000, 99_999_999))
    await add_connection(
        db, TokenCipher(SecretStr(pipeline.secret_key)), tenant_id=tenant_id,
        platform=Platform.LINKEDIN, account_id=organization, token=f"li-token-{organization}",
        login=LoginKind.LINKEDIN, token_scopes=("w_organization_social",),
    )  # fmt: skip
    accounts[Platform.LINKEDIN] = organization
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        event = job_event(job_id)
        response = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", json=event, headers=auth
        )
        assert response.status_code == 202, response.text
        posts = await wait_for_posts(http, pipeline, auth, job_id, 4)
        assert {p["platform"]: p["status"] for p in posts} == dict.fromkeys(
            ("facebook", "instagram", "threads", "linkedin"), "posted"
        ), posts
        for post in posts:
            assert post["platform_post_id"], post
            assert post["permalink"].startswith(PERMALINK_PREFIX[post["platform"]]), post
        assert await on_platform(http, pipeline, accounts) == dict.fromkeys(accounts, 1)

        # The same event again: the same post keys, so nothing new on any platform.
        response = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", json=event, headers=auth
        )
        assert response.status_code == 202, response.text
        await asyncio.sleep(3)
        assert await on_platform(http, pipeline, accounts) == dict.fromkeys(accounts, 1)

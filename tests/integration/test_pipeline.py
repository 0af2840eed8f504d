"""End to end on real Kafka + Postgres, all five services as processes, the Graph sandbox."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from jobcast.crypto import TokenCipher
from jobcast.tenancy import create_tenant, migrate_tenancy
from jobcast_cli.stack import Endpoints
from schemas import Platform
from services.distributor.repo import add_connection, migrate_distributor

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def new_tenant(
    db: asyncpg.Pool, pipeline: Endpoints, *, instagram: bool = True
) -> tuple[dict[str, str], dict[Platform, str]]:
    """A tenant with a Facebook Page and (optionally) an Instagram account; returns auth + ids."""
    await migrate_tenancy(db)
    await migrate_distributor(db)
    tenant, api_key = await create_tenant(db, f"t-{uuid.uuid4().hex[:10]}")
    cipher = TokenCipher(SecretStr(pipeline.secret_key))
    accounts = {Platform.FACEBOOK: f"page-{uuid.uuid4().hex[:8]}"}
    if instagram:
        accounts[Platform.INSTAGRAM] = f"ig-{uuid.uuid4().hex[:8]}"
    for platform, account_id in accounts.items():
        await add_connection(
            db,
            cipher,
            tenant_id=tenant.tenant_id,
            platform=platform,
            account_id=account_id,
            token=f"token-{account_id}",
        )
    return {"Authorization": f"Bearer {api_key}"}, accounts


def job_event(job_id: str, **changes: Any) -> dict[str, Any]:
    payload = {
        "job_id": job_id,
        "title": f"Line cook {job_id}",
        "company": "Warung Laut",
        "location": "Canggu, Bali",
        "employment_type": "daily",
        "apply_url": f"https://jobs.example.com/{job_id}",
        "image_url": f"https://jobs.example.com/{job_id}.jpg",
        **changes,
    }
    return {"event_type": "job.created", "payload": payload}


async def wait_for_posts(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], job_id: str, count: int
) -> list[dict[str, Any]]:
    """Poll the read API until `count` posts of the job have left the in-flight states."""
    async with asyncio.timeout(60):
        while True:
            response = await http.get(
                f"{pipeline.url('metrics')}/v1/jobs/{job_id}/posts", headers=auth
            )
            assert response.status_code == 200, response.text
            posts: list[dict[str, Any]] = response.json()["posts"]
            if len(posts) >= count:
                return posts
            await asyncio.sleep(0.2)


async def ledger(http: httpx.AsyncClient, pipeline: Endpoints, account_id: str) -> list[Any]:
    """What exists on the platform for an account now: live FB posts and IG media."""
    response = await http.get(
        f"{pipeline.graph_api_url}/_sandbox/ledger",
        params={"account_id": account_id, "include_deleted": "false"},
    )
    assert response.status_code == 200
    body = response.json()
    return [*body["fb_posts"], *body["ig_media"]]


async def test_job_is_posted_once_per_connection(db: asyncpg.Pool, pipeline: Endpoints) -> None:
    auth, accounts = await new_tenant(db, pipeline)
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", json=job_event(job_id), headers=auth
        )
        assert response.status_code == 202, response.text
        [event_id] = response.json()["accepted"]
        uuid.UUID(event_id)

        posts = await wait_for_posts(http, pipeline, auth, job_id, 2)
        assert {p["platform"]: p["status"] for p in posts} == {
            "facebook": "posted",
            "instagram": "posted",
        }
        assert all(p["permalink"] and p["platform_post_id"] for p in posts)

        # What reached the platform: exactly one post per connection.
        for account_id in accounts.values():
            items = await ledger(http, pipeline, account_id)
            assert len(items) == 1, items

        # The same job again (a replay): same post keys, so nothing new is posted.
        response = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", json=job_event(job_id), headers=auth
        )
        assert response.status_code == 202
        await asyncio.sleep(3)
        for account_id in accounts.values():
            assert len(await ledger(http, pipeline, account_id)) == 1

    rows = await db.fetch(
        "SELECT platform, status, permalink FROM metrics.job_posts WHERE job_id = $1", job_id
    )
    assert sorted((r["platform"], r["status"]) for r in rows) == [
        ("facebook", "posted"),
        ("instagram", "posted"),
    ]
    assert all(r["permalink"].startswith("https://") for r in rows)


async def test_instagram_without_image_is_skipped_not_silent(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline)
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events",
            json=job_event(job_id, image_url=None),
            headers=auth,
        )
        assert response.status_code == 202
        posts = {p["platform"]: p for p in await wait_for_posts(http, pipeline, auth, job_id, 2)}
        assert posts["facebook"]["status"] == "posted"
        assert posts["instagram"]["status"] == "skipped"
        assert "image" in posts["instagram"]["error"]["message"]
        assert await ledger(http, pipeline, accounts[Platform.INSTAGRAM]) == []


async def test_read_api_is_tenant_scoped(db: asyncpg.Pool, pipeline: Endpoints) -> None:
    auth_a, _ = await new_tenant(db, pipeline, instagram=False)
    auth_b, _ = await new_tenant(db, pipeline, instagram=False)
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", json=job_event(job_id), headers=auth_a
        )
        assert len(await wait_for_posts(http, pipeline, auth_a, job_id, 1)) == 1
        other = await http.get(f"{pipeline.url('metrics')}/v1/jobs/{job_id}/posts", headers=auth_b)
        assert other.status_code == 200
        assert other.json()["posts"] == []
        anonymous = await http.get(f"{pipeline.url('metrics')}/v1/jobs/{job_id}/posts")
        assert anonymous.status_code == 401

"""End to end on real Kafka + Postgres, all five services as processes, the Graph sandbox."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from schemas import Platform
from tests.integration.helpers import job_event, ledger, new_tenant, wait_for_posts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


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

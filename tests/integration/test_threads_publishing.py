"""Threads on the real pipeline (ingest → distributor → publisher_threads → metrics): a job
posts once to a Threads profile with its permalink, even when threads_publish answers 500
after it published; its first comment is a reply; an update leaves the thread as it is
(Threads cannot edit); closing the job deletes it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from schemas import Platform
from tests.integration.helpers import add_fault, job_event, ledger, new_tenant, wait_for_posts

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def threads_of(http: httpx.AsyncClient, pipeline: Endpoints, profile: str) -> Any:
    """The profile's live threads and replies, per the sandbox."""
    response = await http.get(
        f"{pipeline.graph_api_url}/_sandbox/ledger",
        params={"account_id": profile, "kind": "threads_media", "include_deleted": "false"},
    )
    assert response.status_code == 200, response.text
    return response.json()["threads_media"]


async def post_rows(db: asyncpg.Pool, job_id: str, action: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT platform, status, permalink, platform_post_id FROM metrics.job_posts"
        " WHERE job_id = $1 AND action = $2",
        job_id,
        action,
    )


async def until(check: Any, seconds: float = 60) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.3)


async def test_a_job_posts_once_to_threads_and_follows_its_lifecycle(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline, threads=True)
    profile = accounts[Platform.THREADS]
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    reply = f"Questions? Reply here. #{job_id.replace('-', '')}"
    ingest = f"{pipeline.url('ingest')}/v1/job-events"
    async with httpx.AsyncClient(timeout=10) as http:
        # Threads publishes, then answers "please retry": the publisher must find the thread.
        await add_fault(
            http, pipeline, action="http_500_after_create", account_id=profile,
            operation="threads.publish", times=1,
        )  # fmt: skip
        event = job_event(job_id, platform_settings={"threads": {"first_comment": reply}})
        response = await http.post(ingest, json=event, headers=auth)
        assert response.status_code == 202, response.text
        posts = {p["platform"]: p for p in await wait_for_posts(http, pipeline, auth, job_id, 3)}
        await until(lambda: _comment_settled(http, pipeline, auth, job_id))

        [thread] = await ledger(http, pipeline, profile)
        post = posts["threads"]
        assert post["status"] == "posted"
        assert (post["platform_post_id"], post["permalink"]) == (thread["id"], thread["permalink"])
        assert thread["permalink"].startswith("https://www.threads.net/@")
        assert job_id in thread["text"]
        replies = [t for t in await threads_of(http, pipeline, profile) if t["reply_to_id"]]
        assert [(r["reply_to_id"], r["text"]) for r in replies] == [(thread["id"], reply)]
        [row] = [r for r in await post_rows(db, job_id, "publish") if r["platform"] == "threads"]
        assert (row["status"], row["permalink"]) == ("posted", thread["permalink"])

        # An update: Threads cannot edit, so the thread stays as it was posted.
        updated = {**job_event(job_id)["payload"], "revision": 2, "title": f"Head cook {job_id}"}
        response = await http.post(
            ingest, json={"event_type": "job.updated", "payload": updated}, headers=auth
        )
        assert response.status_code == 202, response.text
        await until(lambda: _facebook_edited(db, job_id))
        [still] = await ledger(http, pipeline, profile)
        assert still["text"] == thread["text"]

        # Closing the job takes the thread down.
        closed = {"event_type": "job.closed", "payload": {"job_id": job_id, "reason": "filled"}}
        response = await http.post(ingest, json=closed, headers=auth)
        assert response.status_code == 202, response.text

        async def deleted() -> bool:
            rows = await post_rows(db, job_id, "delete")
            return any(r["platform"] == "threads" and r["status"] == "deleted" for r in rows)

        await until(deleted)
        assert await ledger(http, pipeline, profile) == []


async def _comment_settled(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], job_id: str
) -> bool:
    response = await http.get(f"{pipeline.url('metrics')}/v1/jobs/{job_id}/posts", headers=auth)
    posts = [p for p in response.json()["posts"] if p["platform"] == "threads"]
    comment = posts[0]["first_comment"] if posts else None
    assert comment is None or comment["status"] != "failed", comment
    return bool(comment and comment["status"] == "posted")


async def _facebook_edited(db: asyncpg.Pool, job_id: str) -> bool:
    rows = await post_rows(db, job_id, "edit")
    return any(r["platform"] == "facebook" and r["status"] == "edited" for r in rows)

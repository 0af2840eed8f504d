"""First comments on the real pipeline: made exactly once per post (even when the comment
call answers 500 after it was made, or the publisher dies with the call in flight), and
a comment that fails leaves its post `posted`, with the comment's reason."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from schemas import FirstCommentStatus, Platform, PublishCompleted
from tests.harness import RunningPipeline
from tests.integration.helpers import add_fault, job_event, new_tenant, results_of

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

OPERATION = {Platform.FACEBOOK: "fb.comments", Platform.INSTAGRAM: "ig.comments"}
SETTLED = {"posted", "failed"}


async def submit(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], platform: Platform
) -> tuple[str, str]:
    """A job with a first comment on `platform` only; returns its id and the comment."""
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    comment = f"Questions? Ask below. #{job_id.replace('-', '')}"
    event = job_event(job_id, platform_settings={platform.value: {"first_comment": comment}})
    response = await http.post(f"{pipeline.url('ingest')}/v1/job-events", json=event, headers=auth)
    assert response.status_code == 202, response.text
    return job_id, comment


async def settled_post(
    http: httpx.AsyncClient,
    pipeline: Endpoints,
    auth: dict[str, str],
    job_id: str,
    platform: Platform,
) -> dict[str, Any]:
    """The job's post on `platform`, once its first comment has settled (read API)."""
    async with asyncio.timeout(60):
        while True:
            response = await http.get(
                f"{pipeline.url('metrics')}/v1/jobs/{job_id}/posts", headers=auth
            )
            assert response.status_code == 200, response.text
            posts = [p for p in response.json()["posts"] if p["platform"] == platform.value]
            comment = posts[0]["first_comment"] if posts else None
            if comment and comment["status"] in SETTLED:
                assert len(posts) == 1
                post: dict[str, Any] = posts[0]
                return post
            await asyncio.sleep(0.2)


async def comments_on(http: httpx.AsyncClient, pipeline: Endpoints, object_id: str) -> list[str]:
    response = await http.get(
        f"{pipeline.graph_api_url}/_sandbox/comments", params={"object_id": object_id}
    )
    assert response.status_code == 200
    return [c["message"] for c in response.json()["comments"]]


def comment_statuses(results: list[PublishCompleted]) -> list[str]:
    return [r.payload.first_comment.status.value for r in results if r.payload.first_comment]


@pytest.mark.parametrize("platform", [Platform.FACEBOOK, Platform.INSTAGRAM])
async def test_a_first_comment_answered_500_after_it_was_made_exists_once(
    db: asyncpg.Pool, pipeline: Endpoints, platform: Platform
) -> None:
    auth, accounts = await new_tenant(db, pipeline)
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(http, pipeline, account_id=accounts[platform],
                        action="http_500_after_create", operation=OPERATION[platform])  # fmt: skip
        job_id, comment = await submit(http, pipeline, auth, platform)
        post = await settled_post(http, pipeline, auth, job_id, platform)
        assert post["status"] == "posted"
        assert post["first_comment"]["status"] == "posted"
        assert post["first_comment"]["comment_id"]
        # Reconciled from the post's comments: the one Meta made, not a second.
        assert await comments_on(http, pipeline, post["platform_post_id"]) == [comment]
        listed = await http.get(f"{pipeline.url('metrics')}/v1/posts", headers=auth)
        [same] = [p for p in listed.json()["posts"] if p["post_key"] == post["post_key"]]
        assert same["first_comment"] == post["first_comment"]
    results = [
        r
        for r in await results_of(
            pipeline, job_id, lambda rs: FirstCommentStatus.POSTED.value in comment_statuses(rs)
        )
        if r.payload.platform is platform
    ]
    # The post's own result says a comment is due; the comment's result, that it is made.
    assert comment_statuses(results)[0] == "pending"
    assert comment_statuses(results)[-1] == "posted"
    assert [r.payload.status.value for r in results] == ["posted"] * len(results)


async def test_a_permanent_comment_error_leaves_the_post_posted_with_the_reason(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline)
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(http, pipeline, account_id=accounts[Platform.FACEBOOK], action="error",
                        code=100, http_status=400, operation="fb.comments",
                        message="(#100) Comments are turned off for this post")  # fmt: skip
        job_id, _ = await submit(http, pipeline, auth, Platform.FACEBOOK)
        post = await settled_post(http, pipeline, auth, job_id, Platform.FACEBOOK)
        assert post["status"] == "posted"
        assert post["error"] is None
        assert post["first_comment"]["status"] == "failed"
        assert post["first_comment"]["attempts"] == 1
        assert post["first_comment"]["error"]["error_class"] == "permanent"
        assert "Comments are turned off" in post["first_comment"]["error"]["message"]
        assert await comments_on(http, pipeline, post["platform_post_id"]) == []


async def test_a_publisher_killed_with_the_comment_call_in_flight_comments_once(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    pipeline = running.endpoints
    auth, accounts = await new_tenant(db, pipeline)
    publisher = running.processes["publisher-instagram"]
    async with httpx.AsyncClient(timeout=10) as http:
        # Slow, but inside the Graph timeout: the kill lands while the call is open.
        await add_fault(http, pipeline, account_id=accounts[Platform.INSTAGRAM],
                        action="latency", latency_ms=1500, operation="ig.comments")  # fmt: skip
        job_id, comment = await submit(http, pipeline, auth, Platform.INSTAGRAM)
        async with asyncio.timeout(30):
            while not await db.fetchval(
                """SELECT count(*) FROM publishing.post_claims
                   WHERE job_id = $1 AND kind = 'first_comment' AND state = 'in_progress'""",
                job_id,
            ):
                await asyncio.sleep(0.05)
        publisher.stop(kill=True)
        publisher.start()
        publisher.wait_ready(f"{pipeline.url('publisher-instagram')}/readyz")
        # The lease runs out, the timer takes the comment over and looks before it comments.
        post = await settled_post(http, pipeline, auth, job_id, Platform.INSTAGRAM)
        assert post["first_comment"]["status"] == "posted"
        assert await comments_on(http, pipeline, post["platform_post_id"]) == [comment]

"""Engagement against the Graph sandbox with a short schedule (1 s and 3 s after posting):
insights under today's metric names, snapshots as history and a latest view, rate limits
respected, reconnect-needing connections skipped, comments counted from webhooks."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from jobcast.topics import ENGAGEMENT_EVENTS
from schemas import Platform
from schemas.engagement import EngagementCollected
from services.distributor.repo import set_connection_status
from services.ingest.webhooks import WEBHOOK_PATH, sign
from services.metrics.engagement.domain import FB_COUNT_FIELDS, FB_INSIGHTS, IG_INSIGHTS
from tests.harness import FAST_TIMERS
from tests.integration.helpers import add_fault, job_event, new_tenant
from tests.integration.metrics_support import eventually, valid_records

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def post_job(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], job: str
) -> list[dict[str, Any]]:
    response = await http.post(
        f"{pipeline.url('ingest')}/v1/job-events", json=job_event(job), headers=auth
    )
    assert response.status_code == 202, response.text

    async def posted() -> list[dict[str, Any]] | None:
        posts = (
            await http.get(f"{pipeline.url('metrics')}/v1/jobs/{job}/posts", headers=auth)
        ).json()["posts"]
        return posts if [p["status"] for p in posts] == ["posted", "posted"] else None

    return await eventually(posted, timeout=60)


async def graph(http: httpx.AsyncClient, pipeline: Endpoints, path: str, **params: str) -> Any:
    """Ask the sandbox directly, as the account itself would."""
    response = await http.get(f"{pipeline.graph_api_url}/v24.0/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def insights(
    http: httpx.AsyncClient, pipeline: Endpoints, post: str, metrics: Sequence[str], token: str
) -> dict[str, Any]:
    """A post's insights as the sandbox gives them now: metric name → value."""
    body = await graph(
        http, pipeline, f"{post}/insights", metric=",".join(metrics), access_token=token
    )
    return {item["name"]: item["values"][0]["value"] for item in body["data"]}


async def test_insights_at_each_checkpoint(db: asyncpg.Pool, pipeline: Endpoints) -> None:
    auth, accounts = await new_tenant(db, pipeline)
    fb_account = accounts[Platform.FACEBOOK]
    job = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        # Meta says "too many calls" once: the collector waits and tries again.
        await add_fault(
            http, pipeline, action="error", code=17, operation="fb.insights",
            account_id=fb_account, times=1,
        )  # fmt: skip
        posts = await post_job(http, pipeline, auth, job)
        by_platform = {p["platform"]: p for p in posts}
        url = f"{pipeline.url('metrics')}/v1/jobs/{job}/posts"

        async def both_checkpoints() -> dict[str, Any] | None:
            found = {p["platform"]: p for p in (await http.get(url, headers=auth)).json()["posts"]}
            done = all(
                p["engagement"] and len(p["engagement"]["history"]) == 2 for p in found.values()
            )
            return found if done else None

        found = await eventually(both_checkpoints, timeout=60)

        fb_post = by_platform["facebook"]["platform_post_id"]
        fb_token = f"token-{fb_account}"
        fb_insights = await insights(http, pipeline, fb_post, FB_INSIGHTS, fb_token)
        counts = await graph(http, pipeline, fb_post, fields=FB_COUNT_FIELDS, access_token=fb_token)
        facebook = found["facebook"]["engagement"]
        assert [s["checkpoint_seconds"] for s in facebook["history"]] == [1, 3]
        assert facebook["views"] == fb_insights["post_total_media_view_unique"]
        assert facebook["clicks"] == fb_insights["post_clicks"]
        assert facebook["reactions"] == sum(fb_insights["post_reactions_by_type_total"].values())
        assert facebook["comments"] == counts["comments"]["summary"]["total_count"]
        assert facebook["shares"] == counts.get("shares", {}).get("count", 0)
        assert facebook["total_interactions"] == (
            facebook["reactions"] + facebook["comments"] + facebook["shares"]
        )
        assert facebook["reach"] is None

        ig_post = by_platform["instagram"]["platform_post_id"]
        ig_token = f"token-{accounts[Platform.INSTAGRAM]}"
        ig_insights = await insights(http, pipeline, ig_post, IG_INSIGHTS, ig_token)
        instagram = found["instagram"]["engagement"]
        assert {k: instagram[k] for k in IG_INSIGHTS} == ig_insights
        assert instagram["clicks"] is None

        calls = (
            await http.get(
                f"{pipeline.graph_api_url}/_sandbox/calls",
                params={"account_id": fb_account, "operation": "fb.insights", "limit": 20},
            )
        ).json()["calls"]
        # The refused call, one per checkpoint, and this test's own read above.
        codes = [c["error_code"] for c in sorted(calls, key=lambda c: c["seq"])]
        assert codes == [17, None, None, None]

    # The snapshots travel on engagement.events (history is rebuildable from there).
    events = await valid_records(
        pipeline.kafka_bootstrap_servers, ENGAGEMENT_EVENTS, EngagementCollected
    )
    mine = [e for e in events if e.payload.job_id == job]
    assert sorted((e.payload.platform.value, e.payload.checkpoint_seconds) for e in mine) == [
        ("facebook", 1), ("facebook", 3), ("instagram", 1), ("instagram", 3),
    ]  # fmt: skip
    assert all("impressions" not in e.payload.raw for e in mine)
    rows = await db.fetch(
        "SELECT state, tries FROM metrics.engagement_schedule WHERE job_id = $1", job
    )
    assert sorted(r["state"] for r in rows) == ["done"] * 4
    assert all(r["tries"] == 1 for r in rows)  # waiting out a rate limit uses no try


async def test_connection_needing_reconnect_is_skipped(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline, instagram=False)
    job = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.post(
            f"{pipeline.url('ingest')}/v1/job-events", json=job_event(job), headers=auth
        )
        assert response.status_code == 202
        url = f"{pipeline.url('metrics')}/v1/jobs/{job}/posts"

        async def posted() -> dict[str, Any] | None:
            posts = (await http.get(url, headers=auth)).json()["posts"]
            return posts[0] if posts and posts[0]["status"] == "posted" else None

        post: dict[str, Any] = await eventually(posted, timeout=60)
    row = await db.fetchrow(
        "SELECT tenant_id, connection_id FROM metrics.job_posts WHERE post_key = $1",
        post["post_key"],
    )
    assert row is not None
    await set_connection_status(db, row["connection_id"], row["tenant_id"], "needs_reconnect")

    async def settled() -> list[asyncpg.Record] | None:
        rows = await db.fetch(
            "SELECT checkpoint_seconds, state, last_error FROM metrics.engagement_schedule"
            " WHERE post_key = $1 ORDER BY checkpoint_seconds",
            post["post_key"],
        )
        return rows if rows and all(r["state"] != "pending" for r in rows) else None

    rows = await eventually(settled, timeout=30)
    # The 1 s checkpoint may have been read before the connection broke; the 3 s one not.
    assert rows[-1]["checkpoint_seconds"] == 3
    assert rows[-1]["state"] == "skipped"
    assert "reconnect" in rows[-1]["last_error"]
    assert accounts  # the Page itself was never asked after that:
    async with httpx.AsyncClient(timeout=10) as http:
        calls = (
            await http.get(
                f"{pipeline.graph_api_url}/_sandbox/calls",
                params={"account_id": accounts[Platform.FACEBOOK], "operation": "fb.insights"},
            )
        ).json()["calls"]
    assert len(calls) == (1 if rows[0]["state"] == "done" else 0)


async def test_comments_from_webhooks_are_counted(db: asyncpg.Pool, pipeline: Endpoints) -> None:
    auth, accounts = await new_tenant(db, pipeline)
    job = f"job-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=10) as http:
        posts = {p["platform"]: p for p in await post_job(http, pipeline, auth, job)}
        fb_post = posts["facebook"]["platform_post_id"]
        ig_media = posts["instagram"]["platform_post_id"]
        page, ig_user = accounts[Platform.FACEBOOK], accounts[Platform.INSTAGRAM]

        def feed(verb: str, comment: str) -> dict[str, Any]:
            value = {"item": "comment", "verb": verb, "post_id": fb_post, "comment_id": comment}
            return {"field": "feed", "value": {**value, "message": "Interested!"}}

        deliveries = [
            {"object": "page", "entry": [{"id": page, "time": 1, "changes": [
                feed("add", f"{fb_post}_c1"), feed("add", f"{fb_post}_c2"),
                {"field": "feed", "value": {"item": "reaction", "verb": "add", "post_id": fb_post}},
            ]}]},
            {"object": "page", "entry": [{"id": page, "time": 2, "changes": [
                feed("remove", f"{fb_post}_c2")]}]},
            {"object": "instagram", "entry": [{"id": ig_user, "time": 3, "changes": [
                {"field": "comments", "value": {"id": f"igc-{uuid.uuid4().hex[:6]}",
                 "text": "Still open?", "media": {"id": ig_media}}}]}]},
        ]  # fmt: skip
        secret = FAST_TIMERS["META_APP_SECRET"].encode()
        for delivery in deliveries:
            body = json.dumps(delivery).encode()
            headers = {
                "content-type": "application/json",
                "x-hub-signature-256": sign(secret, body),
            }
            response = await http.post(
                f"{pipeline.url('ingest')}{WEBHOOK_PATH}", content=body, headers=headers
            )
            assert response.status_code == 200

        url = f"{pipeline.url('metrics')}/v1/jobs/{job}/posts"

        async def counted() -> dict[str, int] | None:
            found = {
                p["platform"]: (p["engagement"] or {}).get("webhook_comments")
                for p in (await http.get(url, headers=auth)).json()["posts"]
            }
            return found if found == {"facebook": 1, "instagram": 1} else None

        assert await eventually(counted, timeout=60) == {"facebook": 1, "instagram": 1}

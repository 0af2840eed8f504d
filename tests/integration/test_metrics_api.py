"""The read API on the running metrics service: attempts, filters and keyset pagination,
analytics, the live stream, and tenant isolation across all of them."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from schemas import Platform, PublishCompleted, PublishStatus
from services.metrics.readmodel.handlers import ResultMaterialiser
from tests.integration.metrics_support import (
    T0,
    api_tenant,
    eventually,
    minutes,
    produce_results,
    result,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
S = PublishStatus


async def test_out_of_order_and_duplicate_results_over_kafka(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    tenant, auth = await api_tenant(db)
    connection = uuid.uuid4()
    job = f"job-{uuid.uuid4().hex[:6]}"
    scheduled = result(tenant, job, connection, S.SCHEDULED, attempt=0, at=T0,
                       next_attempt_at=T0 + minutes(30))  # fmt: skip
    retry = result(tenant, job, connection, S.RETRY_SCHEDULED, attempt=2, at=T0 + minutes(31),
                   http_status=500, latency_ms=40, next_attempt_at=T0 + minutes(32))  # fmt: skip
    posted = result(tenant, job, connection, S.POSTED, attempt=2, at=T0 + minutes(33),
                    http_status=200, latency_ms=90, requested_at=T0 + minutes(30))  # fmt: skip
    # Newest first, then everything older, one of them twice: nothing may regress.
    await produce_results(
        pipeline.kafka_bootstrap_servers, [posted, retry, posted, retry, scheduled]
    )
    url = f"{pipeline.url('metrics')}/v1/jobs/{job}/posts"

    async with httpx.AsyncClient(timeout=10) as http:

        async def applied() -> dict[str, Any] | None:
            posts = (await http.get(url, headers=auth)).json()["posts"]
            done = posts and posts[0]["lifecycle"]["scheduled_for"] is not None
            return posts[0] if done else None

        post = await eventually(applied)
    assert post["status"] == "posted"
    assert post["permalink"] == str(posted.payload.permalink)
    assert post["attempt_count"] == 2
    assert post["error"] is None
    lifecycle = post["lifecycle"]
    assert lifecycle["first_seen_at"].startswith("2026-05-01T09:00:00")
    assert lifecycle["posted_at"].startswith("2026-05-01T09:33:00")
    assert lifecycle["requested_at"].startswith("2026-05-01T09:30:00")
    assert [a["outcome"] for a in post["attempts"]] == ["retry_scheduled", "posted"]
    assert [a["http_status"] for a in post["attempts"]] == [500, 200]
    assert [a["latency_ms"] for a in post["attempts"]] == [40, 90]
    assert post["attempts"][0]["error"]["code"] == 2


async def seed_posts(
    db: asyncpg.Pool, tenant: uuid.UUID, count: int, start: int = 0, job: str = "job-page"
) -> list[PublishCompleted]:
    """`count` posts, one minute apart, alternating platform and status (posted/failed)."""
    events = [
        result(
            tenant,
            job,
            uuid.uuid4(),
            S.POSTED if i % 2 == 0 else S.FAILED,
            at=T0 + minutes(i),
            platform=Platform.FACEBOOK if i % 3 else Platform.INSTAGRAM,
        )
        for i in range(start, start + count)
    ]
    await ResultMaterialiser(db, effects=()).apply(events)
    return events


async def pages(
    http: httpx.AsyncClient, url: str, auth: dict[str, str], params: dict[str, Any]
) -> list[str]:
    """Every post key of a listing, following the cursor to the end."""
    found: list[str] = []
    cursor = None
    while True:
        response = await http.get(url, headers=auth, params={**params, "cursor": cursor or ""})
        assert response.status_code == 200, response.text
        body = response.json()
        found += [p["post_key"] for p in body["posts"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


async def test_post_list_filters_and_pagination_stable_under_inserts(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    tenant, auth = await api_tenant(db)
    events = await seed_posts(db, tenant, 25)
    newest_first = [e.payload.post_key for e in reversed(events)]
    url = f"{pipeline.url('metrics')}/v1/posts"
    async with httpx.AsyncClient(timeout=10) as http:
        first = (await http.get(url, headers=auth, params={"limit": 10})).json()
        assert [p["post_key"] for p in first["posts"]] == newest_first[:10]
        seen = [p["post_key"] for p in first["posts"]]
        cursor = first["next_cursor"]
        extra = 100
        while cursor:
            # New posts arrive between pages: they are newer, so they never shift a page.
            await seed_posts(db, tenant, 3, start=extra)
            extra += 3
            page = await http.get(url, headers=auth, params={"limit": 10, "cursor": cursor})
            assert page.status_code == 200, page.text
            seen += [p["post_key"] for p in page.json()["posts"]]
            cursor = page.json()["next_cursor"]
        assert seen == newest_first  # nothing skipped, nothing twice

        until = (T0 + minutes(25)).isoformat()
        failed = await pages(http, url, auth, {"status": "failed", "limit": 4, "until": until})
        assert failed == [k for i, k in enumerate(newest_first) if (24 - i) % 2 == 1]
        instagram = await pages(
            http, url, auth,
            {"platform": "instagram", "until": until},
        )  # fmt: skip
        assert instagram == [k for i, k in enumerate(newest_first) if (24 - i) % 3 == 0]
        window = await pages(
            http, url, auth,
            {"since": (T0 + minutes(5)).isoformat(), "until": (T0 + minutes(8)).isoformat()},
        )  # fmt: skip
        assert window == [events[i].payload.post_key for i in (7, 6, 5)]

        bad = await http.get(url, headers=auth, params={"cursor": "bm90LWEtY3Vyc29y"})
        assert bad.status_code == 422
        naive = await http.get(url, headers=auth, params={"since": "2026-05-01T00:00:00"})
        assert naive.status_code == 422
        assert (await http.get(url)).status_code == 401


async def add_engagement(
    db: asyncpg.Pool, event: PublishCompleted, views: int, interactions: int
) -> None:
    p = event.payload
    await db.execute(
        """INSERT INTO metrics.engagement_latest (post_key, tenant_id, job_id, connection_id,
               platform, platform_post_id, snapshot_event_id, checkpoint_seconds, collected_at,
               views, total_interactions)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 3600, $8, $9, $10)""",
        p.post_key, event.tenant_id, p.job_id, p.connection_id, p.platform.value,
        p.platform_post_id, uuid.uuid4(), T0 + timedelta(hours=2), views, interactions,
    )  # fmt: skip


async def test_analytics_by_platform_day_and_job(db: asyncpg.Pool, pipeline: Endpoints) -> None:
    tenant, auth = await api_tenant(db)
    fb = Platform.FACEBOOK
    ig = Platform.INSTAGRAM
    day2 = T0 + timedelta(days=1)
    posted = [
        result(tenant, "job-a", uuid.uuid4(), S.POSTED, at=T0 + minutes(m), platform=fb,
               requested_at=T0) for m in (1, 2, 3)
    ]  # fmt: skip
    events = [
        *posted,
        result(tenant, "job-a", uuid.uuid4(), S.FAILED, at=T0, platform=fb),
        result(tenant, "job-b", uuid.uuid4(), S.POSTED, at=day2, platform=ig),
        result(tenant, "job-b", uuid.uuid4(), S.SKIPPED, attempt=0, at=day2, platform=ig),
        # Outside the window asked for below:
        result(tenant, "job-c", uuid.uuid4(), S.POSTED, at=T0 - timedelta(days=3), platform=ig),
    ]
    await ResultMaterialiser(db, effects=()).apply(events)
    await add_engagement(db, posted[0], views=1000, interactions=50)
    await add_engagement(db, posted[1], views=500, interactions=25)
    await db.execute(
        "INSERT INTO metrics.webhook_comments (platform, comment_id, platform_post_id, removed)"
        " VALUES ('facebook', $1, $3, false), ('facebook', $2, $3, false),"
        " ('facebook', $4, $3, true)",
        f"c-{uuid.uuid4()}", f"c-{uuid.uuid4()}", posted[0].payload.platform_post_id,
        f"c-{uuid.uuid4()}",
    )  # fmt: skip
    url = f"{pipeline.url('metrics')}/v1/analytics"
    window = {
        "from": (T0 - timedelta(hours=1)).isoformat(),
        "to": (T0 + timedelta(days=2)).isoformat(),
    }

    async with httpx.AsyncClient(timeout=10) as http:
        body = (await http.get(url, headers=auth, params={**window, "group_by": "platform"})).json()
        groups = {g["key"]: g for g in body["groups"]}
        assert set(groups) == {"facebook", "instagram"}
        facebook = groups["facebook"]
        assert facebook["posts"] == 4
        assert facebook["by_status"] == {"posted": 3, "failed": 1}
        assert (facebook["published"], facebook["failed"]) == (3, 1)
        assert facebook["success_rate"] == 0.75
        assert facebook["time_to_publish"]["avg_seconds"] == pytest.approx(120)
        assert facebook["time_to_publish"]["p50_seconds"] == pytest.approx(120)
        engagement = facebook["engagement"]
        assert engagement["posts_measured"] == 2
        assert (engagement["views"], engagement["total_interactions"]) == (1500, 75)
        assert engagement["engagement_rate"] == 0.05
        assert engagement["webhook_comments"] == 2
        instagram = groups["instagram"]
        assert instagram["by_status"] == {"posted": 1, "skipped": 1}
        assert instagram["engagement"]["views"] is None

        by_day = (await http.get(url, headers=auth, params={**window, "group_by": "day"})).json()
        assert [(g["key"], g["posts"]) for g in by_day["groups"]] == [
            ("2026-05-01", 4),
            ("2026-05-02", 2),
        ]
        by_job = (await http.get(url, headers=auth, params={**window, "group_by": "job"})).json()
        assert [(g["key"], g["published"]) for g in by_job["groups"]] == [
            ("job-a", 3),
            ("job-b", 1),
        ]
        backwards = await http.get(
            url, headers=auth, params={"from": window["to"], "to": window["from"]}
        )
        assert backwards.status_code == 422


async def test_tenant_a_never_sees_tenant_b(db: asyncpg.Pool, pipeline: Endpoints) -> None:
    tenant_a, auth_a = await api_tenant(db)
    tenant_b, auth_b = await api_tenant(db)
    mine = await seed_posts(db, tenant_a, 3, job="shared-job")
    theirs = await seed_posts(db, tenant_b, 4, job="shared-job")
    their_keys = {e.payload.post_key for e in theirs}
    base = pipeline.url("metrics")
    window = {
        "from": (T0 - timedelta(days=1)).isoformat(),
        "to": (T0 + timedelta(days=1)).isoformat(),
    }
    async with httpx.AsyncClient(timeout=10) as http:
        job = (await http.get(f"{base}/v1/jobs/shared-job/posts", headers=auth_a)).json()
        assert {p["post_key"] for p in job["posts"]} == {e.payload.post_key for e in mine}
        listed = await pages(http, f"{base}/v1/posts", auth_a, {"limit": 2})
        assert set(listed) == {e.payload.post_key for e in mine}
        stats = (await http.get(f"{base}/v1/analytics", headers=auth_a, params=window)).json()
        assert sum(g["posts"] for g in stats["groups"]) == 3
        # A cursor taken from B's listing does not open B's rows to A either.
        b_page = (await http.get(f"{base}/v1/posts", headers=auth_b, params={"limit": 1})).json()
        via_b_cursor = await http.get(
            f"{base}/v1/posts", headers=auth_a, params={"cursor": b_page["next_cursor"]}
        )
        assert not their_keys & {p["post_key"] for p in via_b_cursor.json()["posts"]}


async def test_stream_sends_the_tenants_changes_only(db: asyncpg.Pool, pipeline: Endpoints) -> None:
    tenant_a, auth_a = await api_tenant(db)
    tenant_b, _ = await api_tenant(db)
    job = f"job-{uuid.uuid4().hex[:6]}"
    lines: list[str] = []
    connected = asyncio.Event()
    url = f"{pipeline.url('metrics')}/v1/stream"

    async def listen() -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10, read=30)) as http,
            http.stream("GET", url, headers=auth_a) as response,
        ):
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            async for line in response.aiter_lines():
                lines.append(line)
                if line.startswith(": connected"):
                    connected.set()

    reader = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(connected.wait(), 15)
        connection = uuid.uuid4()
        theirs = result(tenant_b, job, uuid.uuid4(), S.POSTED, at=T0)
        retry = result(tenant_a, job, connection, S.RETRY_SCHEDULED, attempt=2, at=T0)
        posted = result(tenant_a, job, connection, S.POSTED, attempt=2, at=T0 + minutes(1))
        await produce_results(pipeline.kafka_bootstrap_servers, [theirs, retry, posted])

        def events() -> list[dict[str, Any]]:
            return [json.loads(x[len("data: ") :]) for x in lines if x.startswith("data: {")]

        async def both() -> list[dict[str, Any]] | None:
            got = events()
            return got if len(got) >= 2 else None

        got = await eventually(both, timeout=30)
        assert [(e["post_key"], e["status"]) for e in got] == [
            (retry.payload.post_key, "retry_scheduled"),
            (posted.payload.post_key, "posted"),
        ]
        assert got[1]["previous_status"] == "retry_scheduled"
        assert got[1]["permalink"] == str(posted.payload.permalink)
        assert "event: post.status" in lines
        assert all(e["tenant_id"] == str(tenant_a) for e in events())

        async def keepalive() -> bool | None:
            return True if ": keep-alive" in lines else None

        await eventually(keepalive, timeout=5)  # METRICS_SSE_KEEPALIVE_SECONDS=1 in tests
        assert theirs.payload.post_key not in "\n".join(lines)
    finally:
        reader.cancel()

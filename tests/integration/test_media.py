"""Photos and videos on the real pipeline: Reels, Page videos and Reels, carousels, alt text."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from schemas import Platform, PublishCompleted, PublishStatus
from schemas.media import PostedMedia, PostFormat
from tests.harness import RunningPipeline
from tests.integration.helpers import job_event, results_of, wait_for_posts
from tests.integration.test_distribution import Tenant, make_tenant, send

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CDN = "https://cdn.example.com"


def media_job(job_id: str, media: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    return job_event(job_id, image_url=None, media=media, **changes)


# What `make_tenant` connects: a Page and an Instagram account.
TENANT_PLATFORMS = {Platform.FACEBOOK, Platform.INSTAGRAM}


def settled(results: list[PublishCompleted]) -> bool:
    final = {PublishStatus.POSTED, PublishStatus.FAILED}
    return {r.payload.platform for r in results if r.payload.status in final} == TENANT_PLATFORMS


async def outcome(running: RunningPipeline, job_id: str) -> dict[Platform, PublishCompleted]:
    results = await results_of(running.endpoints, job_id, settled)
    final = {PublishStatus.POSTED, PublishStatus.FAILED}
    return {r.payload.platform: r for r in results if r.payload.status in final}


async def sandbox(http: httpx.AsyncClient, running: RunningPipeline, account: str) -> Any:
    response = await http.get(
        f"{running.endpoints.graph_api_url}/_sandbox/ledger", params={"account_id": account}
    )
    assert response.status_code == 200
    return response.json()


async def posts_when(
    http: httpx.AsyncClient, running: RunningPipeline, tenant: Tenant, job_id: str, status: str
) -> list[dict[str, Any]]:
    """The job's posts once the read model has caught up: one of them in `status`, and
    neither still on its way."""
    async with asyncio.timeout(60):
        while True:
            posts = await wait_for_posts(http, running.endpoints, tenant.auth, job_id, 2)
            states = {p["status"] for p in posts}
            if status in states and states <= {"posted", "failed"}:
                return posts
            await asyncio.sleep(0.2)


async def post_video(
    db: asyncpg.Pool, running: RunningPipeline, **profile: Any
) -> tuple[Tenant, str, dict[Platform, PublishCompleted]]:
    tenant = await make_tenant(db, running, **profile)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    async with httpx.AsyncClient(timeout=10) as http:
        video = {"kind": "video", "url": f"{CDN}/{job_id}.mp4"}
        await send(http, running, tenant, media_job(job_id, [video]))
    return tenant, job_id, await outcome(running, job_id)


async def test_a_video_becomes_an_instagram_reel_and_a_facebook_video(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant, job_id, done = await post_video(db, running)
    ig, fb = done[Platform.INSTAGRAM].payload, done[Platform.FACEBOOK].payload
    assert ig.status is fb.status is PublishStatus.POSTED, (ig.error, fb.error)
    assert str(ig.permalink).startswith("https://www.instagram.com/reel/")
    assert (
        str(fb.permalink) == f"https://www.facebook.com/{tenant.fb}/videos/{fb.platform_post_id}/"
    )
    assert ig.media == PostedMedia(format=PostFormat.REEL, videos=1)
    assert fb.media == PostedMedia(format=PostFormat.VIDEO, videos=1)
    async with httpx.AsyncClient(timeout=10) as http:
        [reel] = (await sandbox(http, running, tenant.ig))["ig_media"]
        assert (reel["media_type"], reel["media_product_type"]) == ("VIDEO", "REELS")
        [video] = (await sandbox(http, running, tenant.fb))["fb_videos"]
        assert video["file_url"] == f"{CDN}/{job_id}.mp4"
        assert video["is_reel"] is False
        posts = await posts_when(http, running, tenant, job_id, "posted")
    shown = {p["platform"]: p["media"] for p in posts}
    assert shown == {
        "instagram": {"format": "reel", "images": 0, "videos": 1},
        "facebook": {"format": "video", "images": 0, "videos": 1},
    }


async def test_a_tenant_that_asks_for_reels_gets_a_facebook_reel(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant, job_id, done = await post_video(db, running, facebook_video_as_reel=True)
    fb = done[Platform.FACEBOOK].payload
    assert fb.status is PublishStatus.POSTED, fb.error
    assert str(fb.permalink) == f"https://www.facebook.com/reel/{fb.platform_post_id}/"
    assert fb.media == PostedMedia(format=PostFormat.REEL, videos=1)
    async with httpx.AsyncClient(timeout=10) as http:
        book = await sandbox(http, running, tenant.fb)
    [reel] = book["fb_videos"]
    assert (reel["is_reel"], reel["published"], reel["id"]) == (True, True, fb.platform_post_id)
    assert reel["file_url"] == f"{CDN}/{job_id}.mp4"
    [post] = book["fb_posts"]
    assert post["video_id"] == fb.platform_post_id  # one post: the flow ran once


async def test_three_photos_make_one_carousel_and_one_post_with_three_photos(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    photos = [
        {"kind": "image", "url": f"{CDN}/{job_id}-{n}.jpg", "alt_text": f"kitchen {n}"}
        for n in range(3)
    ]
    async with httpx.AsyncClient(timeout=10) as http:
        await send(http, running, tenant, media_job(job_id, photos))
        done = await outcome(running, job_id)
        ig, fb = done[Platform.INSTAGRAM].payload, done[Platform.FACEBOOK].payload
        assert ig.status is fb.status is PublishStatus.POSTED, (ig.error, fb.error)
        assert ig.media == PostedMedia(format=PostFormat.CAROUSEL, images=3)
        assert fb.media == PostedMedia(format=PostFormat.IMAGES, images=3)
        [carousel] = (await sandbox(http, running, tenant.ig))["ig_media"]
        assert carousel["media_type"] == "CAROUSEL_ALBUM"
        assert carousel["permalink"] == str(ig.permalink)
        assert [(c["media_url"], c["alt_text"]) for c in carousel["children"]] == [
            (p["url"], p["alt_text"]) for p in photos
        ]
        [post] = (await sandbox(http, running, tenant.fb))["fb_posts"]
        assert len(post["attached_media"]) == 3
        assert post["permalink_url"] == str(fb.permalink)


async def test_a_carousel_item_in_error_fails_the_instagram_post_with_metas_reason(
    db: asyncpg.Pool, running: RunningPipeline
) -> None:
    tenant = await make_tenant(db, running)
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    # Meta cannot transcode an AVI: the item's container ends in ERROR (code 2207026).
    media = [
        {"kind": "image", "url": f"{CDN}/{job_id}.jpg"},
        {"kind": "video", "url": f"{CDN}/{job_id}.avi"},
    ]
    async with httpx.AsyncClient(timeout=10) as http:
        preview = await http.post(
            f"{running.endpoints.url('distributor')}/v1/preview",
            json=media_job(job_id, media)["payload"],
            headers=tenant.auth,
        )
        plans = {c["platform"]: c for c in preview.json()["connections"]}
        assert plans["instagram"]["content"]["format"] == "carousel"
        assert "video_format" in {w["code"] for w in plans["instagram"]["warnings"]}
        assert plans["facebook"]["content"]["format"] == "video"
        assert "media_left_out" in {w["code"] for w in plans["facebook"]["warnings"]}

        await send(http, running, tenant, media_job(job_id, media))
        done = await outcome(running, job_id)
        ig = done[Platform.INSTAGRAM].payload
        assert ig.status is PublishStatus.FAILED
        assert ig.error is not None
        assert ig.error.subcode == 2207026
        assert "carousel item 2" in ig.error.message
        assert ig.media is None
        book = await sandbox(http, running, tenant.ig)
        assert book["ig_media"] == []
        posts = await posts_when(http, running, tenant, job_id, "failed")
        [failed] = [p for p in posts if p["platform"] == "instagram"]
        assert failed["status"] == "failed"
        assert "2207026" in failed["error"]["message"]

"""Meta's failure modes, injected by the sandbox, against the running pipeline.

Each test asserts what exists on the platform (the sandbox ledger): exactly one post
per key, or none together with a result that says why.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from devtools.stack import Endpoints
from schemas import ErrorClass, Platform, PublishCompleted, PublishStatus
from tests.integration.helpers import (
    add_fault,
    job_event,
    ledger,
    new_tenant,
    results_of,
    wait_for_posts,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FINAL = {"posted", "failed", "skipped", "cannot_delete", "deleted", "edited"}


def statuses(results: list[PublishCompleted], platform: Platform) -> list[str]:
    return [r.payload.status.value for r in results if r.payload.platform is platform]


def final_for(platform: Platform) -> Any:
    def done(results: list[PublishCompleted]) -> bool:
        return any(s in FINAL for s in statuses(results, platform))

    return done


async def submit(
    http: httpx.AsyncClient, pipeline: Endpoints, auth: dict[str, str], **changes: Any
) -> str:
    job_id = f"job-{uuid.uuid4().hex[:10]}"
    response = await http.post(
        f"{pipeline.url('ingest')}/v1/job-events", json=job_event(job_id, **changes), headers=auth
    )
    assert response.status_code == 202, response.text
    return job_id


@pytest.mark.parametrize(
    "fault",
    [
        {"action": "http_500_after_create", "operation": "fb.feed"},
        {"action": "timeout", "operation": "fb.feed", "timeout_s": 4, "after_create": True},
        {"action": "connection_reset", "operation": "fb.feed", "after_create": True},
        {"action": "error", "operation": "fb.feed", "code": 1, "http_status": 500,
         "after_create": True},
    ],
    ids=["500-after-create", "timeout-after-create", "reset-after-create", "code-1-after-create"],
)  # fmt: skip
async def test_ambiguous_facebook_outcome_is_reconciled_not_reposted(
    db: asyncpg.Pool, pipeline: Endpoints, fault: dict[str, Any]
) -> None:
    auth, accounts = await new_tenant(db, pipeline, instagram=False)
    page = accounts[Platform.FACEBOOK]
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(http, pipeline, account_id=page, **fault)
        job_id = await submit(http, pipeline, auth, image_url=None)
        results = await results_of(pipeline, job_id, final_for(Platform.FACEBOOK))
        assert statuses(results, Platform.FACEBOOK)[-1] == "posted"
        assert results[-1].payload.permalink is not None
        assert len(await ledger(http, pipeline, page)) == 1  # the post Meta made, not a second


async def test_5xx_that_did_not_post_is_retried_once_proven_absent(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline, instagram=False)
    page = accounts[Platform.FACEBOOK]
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(http, pipeline, account_id=page, action="http_500", operation="fb.feed")
        job_id = await submit(http, pipeline, auth, image_url=None)
        results = await results_of(pipeline, job_id, final_for(Platform.FACEBOOK))
        assert statuses(results, Platform.FACEBOOK) == ["retry_scheduled", "posted"]
        assert [r.payload.attempt for r in results] == [2, 2]
        assert len(await ledger(http, pipeline, page)) == 1


async def test_undecidable_outcome_is_unconfirmed_then_confirmed(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline, instagram=False)
    page = accounts[Platform.FACEBOOK]
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(http, pipeline, account_id=page, action="http_500_after_create",
                        operation="fb.feed")  # fmt: skip
        # Reading the Page's posts fails twice, so the first check cannot decide.
        await add_fault(http, pipeline, account_id=page, action="http_500",
                        operation="fb.published_posts", times=2)  # fmt: skip
        job_id = await submit(http, pipeline, auth, image_url=None)
        results = await results_of(pipeline, job_id, final_for(Platform.FACEBOOK))
        seen = statuses(results, Platform.FACEBOOK)
        assert seen[0] == "unconfirmed"
        assert seen[-1] == "posted"
        assert "retry_scheduled" not in seen  # never re-posted on a guess
        assert len(await ledger(http, pipeline, page)) == 1


@pytest.mark.parametrize(("code", "subcode"), [(32, None), (17, None), (613, None), (80001, None)])
async def test_rate_limit_pauses_only_that_account(
    db: asyncpg.Pool, pipeline: Endpoints, code: int, subcode: int | None
) -> None:
    auth_slow, slow = await new_tenant(db, pipeline, instagram=False)
    auth_fast, fast = await new_tenant(db, pipeline, instagram=False)
    slow_page, fast_page = slow[Platform.FACEBOOK], fast[Platform.FACEBOOK]
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(http, pipeline, account_id=slow_page, action="error", code=code,
                        subcode=subcode, operation="fb.feed",
                        estimated_time_to_regain_access=0)  # fmt: skip
        slow_job = await submit(http, pipeline, auth_slow, image_url=None)
        fast_job = await submit(http, pipeline, auth_fast, image_url=None)
        fast_posts = await wait_for_posts(http, pipeline, auth_fast, fast_job, 1)
        assert fast_posts[0]["status"] == "posted"
        results = await results_of(pipeline, slow_job, final_for(Platform.FACEBOOK))
        first = results[0].payload
        assert first.status is PublishStatus.RETRY_SCHEDULED
        assert first.error is not None
        assert first.error.error_class is ErrorClass.RATE_LIMITED
        assert first.next_attempt_at is not None
        assert statuses(results, Platform.FACEBOOK)[-1] == "posted"
        assert len(await ledger(http, pipeline, slow_page)) == 1
        assert len(await ledger(http, pipeline, fast_page)) == 1


@pytest.mark.parametrize("subcode", [463, 460])
async def test_token_error_fails_and_marks_connection_for_reconnect(
    db: asyncpg.Pool, pipeline: Endpoints, subcode: int
) -> None:
    auth, accounts = await new_tenant(db, pipeline, instagram=False)
    page = accounts[Platform.FACEBOOK]
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(http, pipeline, account_id=page, action="error", code=190,
                        subcode=subcode, operation="fb.*", times=None)  # fmt: skip
        job_id = await submit(http, pipeline, auth, image_url=None)
        results = await results_of(pipeline, job_id, final_for(Platform.FACEBOOK))
        last = results[-1].payload
        assert last.status is PublishStatus.FAILED
        assert last.error is not None
        assert last.error.error_class is ErrorClass.AUTH
        assert (last.error.code, last.error.subcode) == (190, subcode)
        assert await ledger(http, pipeline, page) == []
    status = None
    for _ in range(50):
        status = await db.fetchval(
            "SELECT status FROM distributor.connections WHERE account_id = $1", page
        )
        if status == "needs_reconnect":
            break
        await asyncio.sleep(0.2)
    assert status == "needs_reconnect"


@pytest.mark.parametrize(
    ("fault", "expected", "posts"),
    [
        ({"action": "error", "code": 9004, "subcode": 2207052, "operation": "ig.media"},
         "posted", 1),
        ({"action": "error", "code": 9007, "subcode": 2207027, "operation": "ig.media_publish"},
         "posted", 1),
        ({"action": "error", "code": 352, "subcode": 2207026, "operation": "ig.media",
          "times": None}, "failed", 0),
        ({"action": "container_error", "operation": "ig.container_status"}, "posted", 1),
        ({"action": "http_500_after_create", "operation": "ig.media_publish"}, "posted", 1),
    ],
    ids=["url-unreachable-retried", "not-ready-retried", "video-format-fails",
         "container-error-new-container", "publish-500-after-create-reconciled"],
)  # fmt: skip
async def test_instagram_media_errors(
    db: asyncpg.Pool, pipeline: Endpoints, fault: dict[str, Any], expected: str, posts: int
) -> None:
    auth, accounts = await new_tenant(db, pipeline)
    ig = accounts[Platform.INSTAGRAM]
    async with httpx.AsyncClient(timeout=10) as http:
        await add_fault(http, pipeline, account_id=ig, **fault)
        job_id = await submit(http, pipeline, auth)
        results = await results_of(pipeline, job_id, final_for(Platform.INSTAGRAM))
        assert statuses(results, Platform.INSTAGRAM)[-1] == expected
        assert len(await ledger(http, pipeline, ig)) == posts


async def test_instagram_over_quota_waits_for_the_window(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    auth, accounts = await new_tenant(db, pipeline)
    ig = accounts[Platform.INSTAGRAM]
    async with httpx.AsyncClient(timeout=10) as http:
        register = await http.post(
            f"{pipeline.graph_api_url}/_sandbox/accounts",
            json={"account_id": ig, "platform": "instagram", "quota_total": 0},
        )
        assert register.status_code == 201, register.text
        job_id = await submit(http, pipeline, auth)
        results = await results_of(
            pipeline, job_id, lambda rs: len(statuses(rs, Platform.INSTAGRAM)) >= 2
        )
        waiting = [r.payload for r in results if r.payload.platform is Platform.INSTAGRAM]
        assert all(w.status is PublishStatus.RETRY_SCHEDULED for w in waiting)
        assert waiting[0].error is not None
        assert "quota" in waiting[0].error.message
        assert await ledger(http, pipeline, ig) == []
        # The window opens: the post goes out, once.
        await http.post(
            f"{pipeline.graph_api_url}/_sandbox/accounts",
            json={"account_id": ig, "platform": "instagram", "quota_total": 50},
        )
        results = await results_of(pipeline, job_id, final_for(Platform.INSTAGRAM))
        assert statuses(results, Platform.INSTAGRAM)[-1] == "posted"
        assert len(await ledger(http, pipeline, ig)) == 1


async def test_instagram_image_still_processing_is_published_once_ready(
    db: asyncpg.Pool, pipeline: Endpoints
) -> None:
    """The publisher tries media_publish on a fresh image container at once; Meta refuses
    one that is not FINISHED (9007/2207027), and the post goes out once it is."""
    auth, accounts = await new_tenant(db, pipeline)
    ig = accounts[Platform.INSTAGRAM]
    settings = f"{pipeline.graph_api_url}/_sandbox/settings"
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.patch(settings, json={"image_processing_s": 1.5})).status_code == 200
        try:
            job_id = await submit(http, pipeline, auth)
            results = await results_of(pipeline, job_id, final_for(Platform.INSTAGRAM))
        finally:
            await http.patch(settings, json={"image_processing_s": 0.0})
        assert statuses(results, Platform.INSTAGRAM)[-1] == "posted"
        assert len(await ledger(http, pipeline, ig)) == 1


async def test_carousel_and_reel(db: asyncpg.Pool, pipeline: Endpoints) -> None:
    """Publishing commands with several images or a video, sent straight to the topic."""
    from aiokafka import AIOKafkaProducer

    from schemas import (
        MediaItem,
        MediaKind,
        PostContent,
        PublishCommand,
        PublishRequested,
        make_post_key,
    )

    _, accounts = await new_tenant(db, pipeline)
    tenant_id, connections = await _tenant_connections(db, accounts)
    producer = AIOKafkaProducer(bootstrap_servers=pipeline.kafka_bootstrap_servers)
    await producer.start()
    jobs: dict[str, tuple[Platform, list[MediaItem]]] = {}

    def image(n: int) -> MediaItem:
        return MediaItem(kind=MediaKind.IMAGE, url=f"https://cdn.example.com/{n}.jpg")

    video = MediaItem(kind=MediaKind.VIDEO, url="https://cdn.example.com/clip.mp4")
    cases = [
        (Platform.INSTAGRAM, [image(1), image(2), image(3)]),
        (Platform.INSTAGRAM, [video]),
        (Platform.FACEBOOK, [image(4), image(5)]),
        (Platform.FACEBOOK, [video]),
    ]
    try:
        for platform, media in cases:
            job_id = f"job-{uuid.uuid4().hex[:10]}"
            connection_id = connections[platform]
            command = PublishCommand(
                post_key=make_post_key(tenant_id, job_id, connection_id, 1),
                platform=platform, connection_id=connection_id,
                account_id=accounts[platform], job_id=job_id, revision=1,
                content=PostContent(text=f"Carousel and reel test {job_id}", media=media),
            )  # fmt: skip
            event = PublishRequested(tenant_id=tenant_id, payload=command)
            await producer.send_and_wait(
                f"publish.{platform.value}", event.model_dump_json().encode(),
                key=str(connection_id).encode(),
            )  # fmt: skip
            jobs[job_id] = (platform, media)
    finally:
        await producer.stop()
    async with httpx.AsyncClient(timeout=10) as http:
        for job_id, (platform, _media) in jobs.items():
            results = await results_of(pipeline, job_id, final_for(platform))
            assert statuses(results, platform)[-1] == "posted", results[-1].payload.error
        body = (
            await http.get(
                f"{pipeline.graph_api_url}/_sandbox/ledger",
                params={"account_id": accounts[Platform.INSTAGRAM], "include_deleted": "false"},
            )
        ).json()
        # As Meta reports media: a carousel is CAROUSEL_ALBUM, a reel a VIDEO of product REELS.
        kinds = sorted((m["media_type"], m["media_product_type"]) for m in body["ig_media"])
        assert kinds == [("CAROUSEL_ALBUM", "FEED"), ("VIDEO", "REELS")]
        carousel = next(m for m in body["ig_media"] if m["media_type"] == "CAROUSEL_ALBUM")
        assert len(carousel["children"]) == 3
        fb = (
            await http.get(
                f"{pipeline.graph_api_url}/_sandbox/ledger",
                params={"account_id": accounts[Platform.FACEBOOK], "include_deleted": "false"},
            )
        ).json()
        assert sorted(p["kind"] for p in fb["fb_posts"]) == ["multi_photo", "video"]
        multi = next(p for p in fb["fb_posts"] if p["kind"] == "multi_photo")
        assert len(multi["attached_media"]) == 2


async def _tenant_connections(
    db: asyncpg.Pool, accounts: dict[Platform, str]
) -> tuple[uuid.UUID, dict[Platform, uuid.UUID]]:
    rows = await db.fetch(
        "SELECT tenant_id, platform, connection_id FROM distributor.connections"
        " WHERE account_id = ANY($1::text[])",
        list(accounts.values()),
    )
    return rows[0]["tenant_id"], {Platform(r["platform"]): r["connection_id"] for r in rows}


@pytest.mark.parametrize("read_after_write", [True, False], ids=["read-after-write", "read-back"])
async def test_permalink_comes_with_the_create_or_is_read_back(
    db: asyncpg.Pool, pipeline: Endpoints, read_after_write: bool
) -> None:
    """Meta's read-after-write puts the permalink on the create answer (FB feed, IG
    media_publish); where an endpoint does not offer it, the publisher reads it back.
    Either way: one post per account, with its permalink."""
    auth, accounts = await new_tenant(db, pipeline)
    graph = pipeline.graph_api_url
    both = (Platform.FACEBOOK, Platform.INSTAGRAM)
    async with httpx.AsyncClient(timeout=10) as http:
        patch = {"read_after_write": read_after_write}
        assert (await http.patch(f"{graph}/_sandbox/settings", json=patch)).status_code == 200
        try:
            job_id = await submit(http, pipeline, auth)
            results = await results_of(
                pipeline, job_id, lambda rs: all(final_for(p)(rs) for p in both)
            )
        finally:
            await http.patch(f"{graph}/_sandbox/settings", json={"read_after_write": True})
        for platform in both:
            [posted] = [r.payload for r in results if r.payload.platform is platform]
            assert posted.status is PublishStatus.POSTED
            assert str(posted.permalink).startswith("https://www.")
            assert len(await ledger(http, pipeline, accounts[platform])) == 1
        # (The job has an image: on Facebook a photo post, whose permalink is always read.)
        query = {"account_id": accounts[Platform.INSTAGRAM], "operation": "ig.media.get"}
        reads = (await http.get(f"{graph}/_sandbox/calls", params=query)).json()["calls"]
        assert len(reads) == (0 if read_after_write else 1)

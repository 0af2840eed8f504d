"""Instagram content publishing against the sandbox: containers, state machine, quota, media."""

from __future__ import annotations

import httpx
import pytest

from .helpers import (
    IG,
    IMAGE,
    VIDEO,
    FakeClock,
    delete,
    error_of,
    get,
    ledger,
    post,
    publish_image,
    register,
)


async def status_of(client: httpx.AsyncClient, container_id: str) -> str:
    """The container's status_code."""
    response = await get(client, f"/{container_id}", fields="status_code,status")
    status: str = response.json()["status_code"]
    return status


async def test_image_publish_creates_one_media(client: httpx.AsyncClient) -> None:
    created = await post(
        client, f"/{IG}/media", image_url=IMAGE, caption="Job 7 #hiring", alt_text="a desk"
    )
    container_id = created.json()["id"]
    assert created.json() == {"id": container_id}
    assert await status_of(client, container_id) == "FINISHED"

    published = await post(client, f"/{IG}/media_publish", creation_id=container_id)
    media_id = published.json()["id"]
    assert published.json() == {"id": media_id}
    assert await status_of(client, container_id) == "PUBLISHED"

    read = await get(client, f"/{media_id}", fields="permalink,id,caption,timestamp")
    body = read.json()
    assert body["id"] == media_id
    assert body["caption"] == "Job 7 #hiring"
    assert body["permalink"].startswith("https://www.instagram.com/p/")
    assert body["timestamp"].endswith("+0000")

    book = await ledger(client, account_id=IG, kind="ig_media")
    assert book["counts"]["ig_media"] == 1
    [entry] = book["ig_media"]
    assert (entry["container_id"], entry["caption"], entry["media_type"]) == (
        container_id,
        "Job 7 #hiring",
        "IMAGE",
    )


async def test_publish_reads_after_write_when_fields_are_named(
    client: httpx.AsyncClient,
) -> None:
    async def publish(**extra: str) -> httpx.Response:
        created = await post(client, f"/{IG}/media", image_url=IMAGE, caption="raw")
        return await post(client, f"/{IG}/media_publish", creation_id=created.json()["id"], **extra)

    with_fields = (await publish(fields="id,permalink")).json()
    assert set(with_fields) == {"id", "permalink"}
    assert with_fields["permalink"].startswith("https://www.instagram.com/p/")

    # A failed read answers the error, with what the write alone answers: it stands.
    failed = await publish(fields="permalink,nonsense")
    error = error_of(failed)
    assert error["code"] == 100
    media_id = error["original_response"]["id"]
    assert (await get(client, f"/{media_id}", fields="id")).json() == {"id": media_id}

    # Off, `fields` is ignored (endpoints that do not offer the feature).
    assert (await client.patch("/_sandbox/settings", json={"read_after_write": False})).is_success
    assert set((await publish(fields="id,permalink")).json()) == {"id"}
    assert (await ledger(client, account_id=IG))["counts"]["ig_media"] == 3


async def test_publishing_twice_errors_without_second_media(client: httpx.AsyncClient) -> None:
    created = await post(client, f"/{IG}/media", image_url=IMAGE, caption="once")
    container_id = created.json()["id"]
    first = await post(client, f"/{IG}/media_publish", creation_id=container_id)
    assert first.status_code == 200
    second = await post(client, f"/{IG}/media_publish", creation_id=container_id)
    error = error_of(second)
    assert (error["code"], error["error_subcode"]) == (24, 2207008)
    assert (await ledger(client, account_id=IG))["counts"]["ig_media"] == 1


async def test_unknown_creation_id_is_builder_error(client: httpx.AsyncClient) -> None:
    response = await post(client, f"/{IG}/media_publish", creation_id="12345")
    assert error_of(response)["error_subcode"] == 2207008


async def _carousel_children(client: httpx.AsyncClient, count: int) -> list[str]:
    children = []
    for _ in range(count):
        child = await post(client, f"/{IG}/media", image_url=IMAGE, is_carousel_item="true")
        assert child.status_code == 200, child.text
        children.append(child.json()["id"])
    return children


async def test_carousel_publish(client: httpx.AsyncClient) -> None:
    children = await _carousel_children(client, 3)
    parent = await post(
        client, f"/{IG}/media", media_type="CAROUSEL", children=",".join(children), caption="3 jobs"
    )
    assert parent.status_code == 200, parent.text
    published = await post(client, f"/{IG}/media_publish", creation_id=parent.json()["id"])
    media_id = published.json()["id"]
    book = await ledger(client, account_id=IG, kind="ig_media")
    [entry] = book["ig_media"]
    assert entry["id"] == media_id
    assert entry["media_type"] == "CAROUSEL_ALBUM"
    assert [c["container_id"] for c in entry["children"]] == children
    read = await get(client, f"/{media_id}", fields="children")
    assert len(read.json()["children"]["data"]) == 3


@pytest.mark.parametrize("count", [1, 11])
async def test_carousel_needs_2_to_10_children(client: httpx.AsyncClient, count: int) -> None:
    children = await _carousel_children(client, count)
    parent = await post(client, f"/{IG}/media", media_type="CAROUSEL", children=",".join(children))
    error = error_of(parent)
    assert (error["code"], error["error_subcode"]) == (100, 2207028)


async def test_reel_processes_then_finishes(client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await post(
        client, f"/{IG}/media", media_type="REELS", video_url=VIDEO, caption="reel"
    )
    container_id = created.json()["id"]
    assert await status_of(client, container_id) == "IN_PROGRESS"

    early = await post(client, f"/{IG}/media_publish", creation_id=container_id)
    error = error_of(early)
    assert (error["code"], error["error_subcode"]) == (9007, 2207027)
    assert (await ledger(client))["counts"]["ig_media"] == 0

    clock.advance(2.0)
    assert await status_of(client, container_id) == "FINISHED"
    published = await post(client, f"/{IG}/media_publish", creation_id=container_id)
    media = await get(client, f"/{published.json()['id']}", fields="media_product_type,permalink")
    assert media.json()["media_product_type"] == "REELS"
    assert "/reel/" in media.json()["permalink"]


async def test_quota_and_2207042(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await register(client, account_id=IG, platform="instagram", quota_total=2)
    await publish_image(client, "q1")
    await publish_image(client, "q2")
    limit = await get(client, f"/{IG}/content_publishing_limit", fields="quota_usage,config")
    assert limit.json() == {
        "data": [{"quota_usage": 2, "config": {"quota_total": 2, "quota_duration": 86400}}]
    }
    created = await post(client, f"/{IG}/media", image_url=IMAGE, caption="q3")
    over = await post(client, f"/{IG}/media_publish", creation_id=created.json()["id"])
    error = error_of(over)
    assert (error["code"], error["error_subcode"]) == (9, 2207042)
    assert (await ledger(client, account_id=IG))["counts"]["ig_media"] == 2

    clock.advance(86_400)  # the moving window frees both slots
    limit = await get(client, f"/{IG}/content_publishing_limit")
    assert limit.json() == {"data": [{"quota_usage": 0}]}
    await publish_image(client, "q4")


async def test_default_quota_is_100(client: httpx.AsyncClient) -> None:
    limit = await get(client, f"/{IG}/content_publishing_limit", fields="config")
    assert limit.json()["data"][0]["config"]["quota_total"] == 100


async def test_container_expires_after_24h(client: httpx.AsyncClient, clock: FakeClock) -> None:
    created = await post(client, f"/{IG}/media", image_url=IMAGE, caption="stale")
    container_id = created.json()["id"]
    clock.advance(86_400)
    assert await status_of(client, container_id) == "EXPIRED"
    response = await post(client, f"/{IG}/media_publish", creation_id=container_id)
    assert error_of(response)["error_subcode"] == 2207020


@pytest.mark.parametrize(
    ("caption", "code", "subcode"),
    [
        ("x" * 2201, 36004, 2207010),
        (" ".join(f"#tag{i}" for i in range(31)), 36004, 2207010),
        (" ".join(f"@user{i}" for i in range(21)), 100, 2207040),
    ],
)
async def test_caption_limits(
    client: httpx.AsyncClient, caption: str, code: int, subcode: int
) -> None:
    response = await post(client, f"/{IG}/media", image_url=IMAGE, caption=caption)
    error = error_of(response)
    assert (error["code"], error["error_subcode"]) == (code, subcode)


async def test_caption_at_limits_is_fine(client: httpx.AsyncClient) -> None:
    caption = " ".join(f"#t{i}" for i in range(30)) + " " + " ".join(f"@u{i}" for i in range(20))
    response = await post(client, f"/{IG}/media", image_url=IMAGE, caption=caption)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("url", "code", "subcode"),
    [
        ("https://cdn.example.com/a.png", 36001, 2207005),
        ("http://127.0.0.1:9000/a.jpg", 9004, 2207052),
        ("ftp://cdn.example.com/a.jpg", 9004, 2207052),
    ],
)
async def test_bad_image_urls(client: httpx.AsyncClient, url: str, code: int, subcode: int) -> None:
    response = await post(client, f"/{IG}/media", image_url=url)
    error = error_of(response)
    assert (error["code"], error["error_subcode"]) == (code, subcode)


async def test_unsupported_video_format_ends_in_error(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    created = await post(
        client, f"/{IG}/media", media_type="REELS", video_url="https://cdn.example.com/v.avi"
    )
    container_id = created.json()["id"]
    status = await get(client, f"/{container_id}", fields="status_code,status")
    assert status.json()["status_code"] == "ERROR"
    assert "2207026" in status.json()["status"]
    clock.advance(5)
    response = await post(client, f"/{IG}/media_publish", creation_id=container_id)
    assert (error_of(response)["code"], error_of(response)["error_subcode"]) == (352, 2207026)


async def test_unknown_media_type(client: httpx.AsyncClient) -> None:
    response = await post(client, f"/{IG}/media", media_type="HOLOGRAM", image_url=IMAGE)
    assert error_of(response)["error_subcode"] == 2207023


async def test_story_publish(client: httpx.AsyncClient) -> None:
    created = await post(client, f"/{IG}/media", media_type="STORIES", image_url=IMAGE)
    published = await post(client, f"/{IG}/media_publish", creation_id=created.json()["id"])
    media = await get(client, f"/{published.json()['id']}", fields="media_product_type")
    assert media.json()["media_product_type"] == "STORY"


async def test_media_insights_and_deprecated_metrics(client: httpx.AsyncClient) -> None:
    media_id = await publish_image(client, "insights")
    metrics = "reach,likes,comments,shares,saved,total_interactions,views"
    response = await get(client, f"/{media_id}/insights", metric=metrics)
    assert [d["name"] for d in response.json()["data"]] == metrics.split(",")
    for deprecated in ("impressions", "plays", "video_views"):
        failed = await get(client, f"/{media_id}/insights", metric=f"reach,{deprecated}")
        assert error_of(failed)["code"] == 100


async def test_delete_needs_instagram_manage_contents(client: httpx.AsyncClient) -> None:
    media_id = await publish_image(client, "to delete")
    denied = await delete(client, f"/{media_id}")
    assert error_of(denied)["code"] == 10
    assert (await ledger(client))["ig_media"][0]["deleted"] is False

    await register(
        client,
        account_id=IG,
        platform="instagram",
        permissions=["instagram_basic", "instagram_content_publish", "instagram_manage_contents"],
    )
    allowed = await delete(client, f"/{media_id}")
    assert allowed.json() == {"success": True}
    book = await ledger(client)
    assert book["ig_media"][0]["deleted"] is True
    assert book["counts"]["ig_media"] == 0
    gone = await get(client, f"/{media_id}")
    assert error_of(gone)["error_subcode"] == 33


async def test_media_list_newest_first(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await publish_image(client, f"m{n}")
    response = await get(client, f"/{IG}/media", fields="caption", limit=2)
    assert [m["caption"] for m in response.json()["data"]] == ["m2", "m1"]

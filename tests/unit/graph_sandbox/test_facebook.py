"""Facebook Page publishing against the sandbox: feed, photos, videos, edit, delete, reads."""

from __future__ import annotations

import json

import httpx
import pytest

from devtools.graph_sandbox import SandboxSettings

from .helpers import IMAGE, PAGE, TOKEN, FakeClock, V, delete, error_of, get, ledger, post


async def test_feed_post_creates_exactly_one_post_with_permalink(client: httpx.AsyncClient) -> None:
    response = await post(
        client, f"/{PAGE}/feed", message="Job 42: welder", link="https://jobs.example.com/42"
    )
    assert response.status_code == 200
    post_id = response.json()["id"]
    assert post_id.startswith(f"{PAGE}_")
    assert response.json() == {"id": post_id}

    read = await get(client, f"/{post_id}", fields="permalink_url,message,created_time,id")
    body = read.json()
    assert body["id"] == post_id
    assert body["message"] == "Job 42: welder"
    assert body["permalink_url"] == f"https://www.facebook.com/{PAGE}/posts/{post_id.split('_')[1]}"
    assert body["created_time"].endswith("+0000")

    book = await ledger(client, account_id=PAGE, kind="fb_post")
    assert book["counts"]["fb_posts"] == 1
    [entry] = book["fb_posts"]
    assert entry["message"] == "Job 42: welder"
    assert entry["link"] == "https://jobs.example.com/42"
    assert entry["published"] is True
    assert entry["deleted"] is False


@pytest.mark.parametrize("encoding", ["form", "json", "query"])
async def test_feed_accepts_form_json_and_query_params(
    client: httpx.AsyncClient, encoding: str
) -> None:
    params = {"message": f"via {encoding}", "access_token": TOKEN}
    if encoding == "form":
        response = await client.post(f"{V}/{PAGE}/feed", data=params)
    elif encoding == "json":
        response = await client.post(f"{V}/{PAGE}/feed", json=params)
    else:
        response = await client.post(f"{V}/{PAGE}/feed", params=params)
    assert response.status_code == 200, response.text
    book = await ledger(client, contains=f"via {encoding}")
    assert book["counts"]["fb_posts"] == 1


async def test_any_version_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"/v99.3/{PAGE}/feed", data={"message": "x", "access_token": TOKEN}
    )
    assert response.status_code == 200


async def test_feed_without_message_or_attachment_is_code_100(client: httpx.AsyncClient) -> None:
    response = await post(client, f"/{PAGE}/feed")
    assert response.status_code == 400
    assert error_of(response)["code"] == 100
    assert (await ledger(client))["counts"]["fb_posts"] == 0


async def test_published_photo_returns_id_and_post_id(client: httpx.AsyncClient) -> None:
    response = await post(client, f"/{PAGE}/photos", url=IMAGE, caption="Photo job")
    body = response.json()
    assert set(body) == {"id", "post_id"}
    assert body["post_id"] == f"{PAGE}_{body['id']}"
    book = await ledger(client, account_id=PAGE)
    [entry] = book["fb_posts"]
    assert entry["kind"] == "photo"
    assert entry["message"] == "Photo job"
    assert entry["attached_media"] == [body["id"]]


async def test_multi_photo_post_uses_unpublished_photos(client: httpx.AsyncClient) -> None:
    ids = []
    for _ in range(2):
        response = await post(client, f"/{PAGE}/photos", url=IMAGE, published="false")
        assert set(response.json()) == {"id"}
        ids.append(response.json()["id"])
    attached = json.dumps([{"media_fbid": photo_id} for photo_id in ids])
    response = await post(client, f"/{PAGE}/feed", message="Two photos", attached_media=attached)
    assert response.status_code == 200, response.text
    book = await ledger(client, account_id=PAGE)
    assert book["counts"]["fb_posts"] == 1
    assert book["fb_posts"][0]["kind"] == "multi_photo"
    assert book["fb_posts"][0]["attached_media"] == ids
    # Unpublished photos are not posts of their own.
    assert all(not photo["published"] for photo in book["fb_photos"])

    again = await post(client, f"/{PAGE}/feed", message="Reuse", attached_media=attached)
    assert error_of(again)["code"] == 100


async def test_multi_photo_php_style_attached_media(client: httpx.AsyncClient) -> None:
    photo = await post(client, f"/{PAGE}/photos", url=IMAGE, published="false")
    photo_id = photo.json()["id"]
    response = await client.post(
        f"{V}/{PAGE}/feed",
        data={
            "message": "indexed",
            "attached_media[0]": json.dumps({"media_fbid": photo_id}),
            "access_token": TOKEN,
        },
    )
    assert response.status_code == 200, response.text
    assert (await ledger(client))["fb_posts"][0]["attached_media"] == [photo_id]


async def test_video_post_appears_after_processing(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    response = await post(
        client, f"/{PAGE}/videos", file_url="https://cdn.example.com/v.mp4", description="Video job"
    )
    video_id = response.json()["id"]
    assert response.json() == {"id": video_id}
    status = await get(client, f"/{video_id}", fields="status")
    assert status.json()["status"]["video_status"] == "processing"
    listed = await get(client, f"/{PAGE}/published_posts")
    assert listed.json()["data"] == []

    clock.advance(2.5)
    status = await get(client, f"/{video_id}", fields="status")
    assert status.json()["status"] == {"video_status": "ready", "processing_progress": 100}
    listed = await get(client, f"/{PAGE}/published_posts", fields="id,message")
    assert listed.json()["data"] == [{"id": f"{PAGE}_{video_id}", "message": "Video job"}]


async def test_edit_changes_message(client: httpx.AsyncClient) -> None:
    post_id = (await post(client, f"/{PAGE}/feed", message="old")).json()["id"]
    response = await post(client, f"/{post_id}", message="new")
    assert response.json() == {"success": True}
    assert (await get(client, f"/{post_id}", fields="message")).json()["message"] == "new"
    assert (await ledger(client))["fb_posts"][0]["message"] == "new"


async def test_delete_marks_deleted_and_reads_fail(client: httpx.AsyncClient) -> None:
    post_id = (await post(client, f"/{PAGE}/feed", message="gone soon")).json()["id"]
    response = await delete(client, f"/{post_id}")
    assert response.json() == {"success": True}

    read = await get(client, f"/{post_id}")
    error = error_of(read)
    assert (error["code"], error["error_subcode"], error["type"]) == (
        100,
        33,
        "GraphMethodException",
    )
    again = await delete(client, f"/{post_id}")
    assert error_of(again)["code"] == 100

    book = await ledger(client, account_id=PAGE)
    assert book["fb_posts"][0]["deleted"] is True
    assert book["counts"]["fb_posts"] == 0
    hidden = await ledger(client, account_id=PAGE, include_deleted="false")
    assert hidden["fb_posts"] == []


async def test_published_posts_newest_first_with_paging(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await post(client, f"/{PAGE}/feed", message=f"job {n}")
    first = await get(client, f"/{PAGE}/published_posts", fields="id,message,created_time", limit=3)
    body = first.json()
    assert [p["message"] for p in body["data"]] == ["job 4", "job 3", "job 2"]
    assert set(body["data"][0]) == {"id", "message", "created_time"}
    after = body["paging"]["cursors"]["after"]
    assert "next" in body["paging"]
    second = await get(client, f"/{PAGE}/published_posts", fields="message", limit=3, after=after)
    assert [p["message"] for p in second.json()["data"]] == ["job 1", "job 0"]
    assert "next" not in second.json()["paging"]


async def test_scheduled_post_goes_live_at_its_time(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    when = int(clock.now + 3600)
    response = await post(
        client, f"/{PAGE}/feed", message="later", published="false", scheduled_publish_time=when
    )
    assert response.status_code == 200
    assert (await get(client, f"/{PAGE}/published_posts")).json()["data"] == []
    scheduled = await get(client, f"/{PAGE}/scheduled_posts", fields="message")
    assert [p["message"] for p in scheduled.json()["data"]] == ["later"]
    clock.advance(3601)
    live = await get(client, f"/{PAGE}/published_posts", fields="message")
    assert [p["message"] for p in live.json()["data"]] == ["later"]


@pytest.mark.parametrize("offset", [60, 31 * 86_400])
async def test_schedule_outside_10min_30days_is_rejected(
    client: httpx.AsyncClient, clock: FakeClock, offset: int
) -> None:
    response = await post(
        client,
        f"/{PAGE}/feed",
        message="bad schedule",
        published="false",
        scheduled_publish_time=int(clock.now + offset),
    )
    assert error_of(response)["code"] == 100


async def test_post_insights_and_removed_metric(client: httpx.AsyncClient) -> None:
    post_id = (await post(client, f"/{PAGE}/feed", message="m")).json()["id"]
    metrics = "post_total_media_view_unique,post_clicks,post_reactions_by_type_total"
    response = await get(client, f"/{post_id}/insights", metric=metrics)
    data = response.json()["data"]
    assert [d["name"] for d in data] == metrics.split(",")
    assert all(d["period"] == "lifetime" for d in data)
    assert isinstance(data[0]["values"][0]["value"], int)
    assert isinstance(data[2]["values"][0]["value"], dict)

    removed = await get(client, f"/{post_id}/insights", metric="post_clicks,post_impressions")
    assert removed.status_code == 400
    assert error_of(removed)["code"] == 100


async def test_engagement_counts_are_deterministic(client: httpx.AsyncClient) -> None:
    post_id = (await post(client, f"/{PAGE}/feed", message="m")).json()["id"]
    fields = "shares,reactions.summary(total_count).limit(0),comments.summary(true).limit(0)"
    first = (await get(client, f"/{post_id}", fields=fields)).json()
    second = (await get(client, f"/{post_id}", fields=fields)).json()
    assert first == second
    assert isinstance(first["reactions"]["summary"]["total_count"], int)
    assert isinstance(first["comments"]["summary"]["total_count"], int)
    assert first["reactions"]["data"] == []


async def test_unknown_field_is_code_100(client: httpx.AsyncClient) -> None:
    post_id = (await post(client, f"/{PAGE}/feed", message="m")).json()["id"]
    response = await get(client, f"/{post_id}", fields="id,impressions")
    error = error_of(response)
    assert error["code"] == 100
    assert "nonexisting field (impressions)" in error["message"]


async def test_unknown_object_is_100_33(client: httpx.AsyncClient) -> None:
    response = await get(client, "/999999999")
    error = error_of(response)
    assert (error["code"], error["error_subcode"]) == (100, 33)


async def test_duplicate_status_is_506_when_detection_on(
    client: httpx.AsyncClient, settings: SandboxSettings
) -> None:
    settings.duplicate_detection = True
    assert (await post(client, f"/{PAGE}/feed", message="same")).status_code == 200
    duplicate = await post(client, f"/{PAGE}/feed", message="same")
    assert error_of(duplicate)["code"] == 506
    assert (await ledger(client))["counts"]["fb_posts"] == 1


async def test_page_edge_on_instagram_account_is_rejected(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/accounts", json={"account_id": "ig-1", "platform": "instagram"})
    response = await post(client, "/ig-1/feed", message="wrong node")
    assert error_of(response)["code"] == 100
    assert "node type (IGUser)" in error_of(response)["message"]


async def test_feed_create_renders_requested_fields() -> None:
    from devtools.graph_sandbox.app import create_app

    app = create_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        response = await client.post(
            "/v24.0/123456789012345/feed",
            params={"fields": "id,permalink_url", "access_token": "t"},
            data={"message": "hello"},
        )
        body = response.json()
        plain = await client.post(
            "/v24.0/123456789012345/feed", params={"access_token": "t"}, data={"message": "x"}
        )
        bad_field = await client.post(
            "/v24.0/123456789012345/feed",
            params={"fields": "permalink_urls", "access_token": "t"},
            data={"message": "typo"},
        )
    assert response.status_code == 200
    assert body["id"].startswith("123456789012345_")
    assert body["permalink_url"].startswith("https://www.facebook.com/")
    assert set(plain.json()) == {"id"}
    # The read failed, the post exists: Meta's error carries the write's own answer.
    error = bad_field.json()["error"]
    assert error["code"] == 100
    assert error["original_response"]["id"].startswith("123456789012345_")

"""The sandbox's Page Reels (video_reels start → upload host → finish) and media alt text."""

from __future__ import annotations

from typing import Any

import httpx

from .helpers import IG, IMAGE, PAGE, TOKEN, VIDEO, FakeClock, error_of, get, ledger, post


async def upload(client: httpx.AsyncClient, video_id: str, file_url: str) -> httpx.Response:
    return await client.post(
        f"/video-upload/v24.0/{video_id}",
        headers={"Authorization": f"OAuth {TOKEN}", "file_url": file_url},
    )


async def start(client: httpx.AsyncClient) -> dict[str, Any]:
    started = await post(client, f"/{PAGE}/video_reels", upload_phase="start")
    assert started.status_code == 200, started.text
    body: dict[str, Any] = started.json()
    return body


async def status(client: httpx.AsyncClient, video_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await get(client, f"/{video_id}", fields="status")).json()["status"]
    return found


async def test_a_reel_goes_through_start_upload_finish(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    session = await start(client)
    video_id = session["video_id"]
    assert session["upload_url"].endswith(f"/video-upload/v24.0/{video_id}")
    assert (await status(client, video_id))["uploading_phase"] == {"status": "not_started"}
    uploaded = await upload(client, video_id, VIDEO)
    assert uploaded.json() == {"success": True}
    finished = await post(
        client, f"/{PAGE}/video_reels", upload_phase="finish", video_id=video_id,
        video_state="PUBLISHED", description="Cook wanted",
    )  # fmt: skip
    assert finished.json() == {"success": True}
    assert (await status(client, video_id))["publishing_phase"] == {"status": "complete"}
    clock.advance(10)
    assert (await status(client, video_id))["video_status"] == "ready"
    link = (await get(client, f"/{video_id}", fields="permalink_url")).json()["permalink_url"]
    assert link == f"/reel/{video_id}/"
    book = await ledger(client, account_id=PAGE)
    assert [(p["message"], p["video_id"]) for p in book["fb_posts"]] == [("Cook wanted", video_id)]
    again = await post(
        client, f"/{PAGE}/video_reels", upload_phase="finish", video_id=video_id,
        video_state="PUBLISHED", description="Cook wanted",
    )  # fmt: skip
    assert again.status_code == 400  # a session is published once


async def test_finishing_before_the_upload_fails_and_posts_nothing(
    client: httpx.AsyncClient,
) -> None:
    video_id = (await start(client))["video_id"]
    finished = await post(
        client, f"/{PAGE}/video_reels", upload_phase="finish", video_id=video_id,
        video_state="PUBLISHED", description="x",
    )  # fmt: skip
    assert error_of(finished)["code"] == 6000
    assert (await ledger(client, account_id=PAGE))["counts"]["fb_posts"] == 0


async def test_a_file_meta_cannot_read_ends_in_a_processing_error(
    client: httpx.AsyncClient,
) -> None:
    video_id = (await start(client))["video_id"]
    await upload(client, video_id, "https://cdn.example.com/not-a-video.gif")
    await post(
        client, f"/{PAGE}/video_reels", upload_phase="finish", video_id=video_id,
        video_state="PUBLISHED", description="x",
    )  # fmt: skip
    found = await status(client, video_id)
    assert found["video_status"] == "error"
    assert found["processing_phase"]["status"] == "error"
    assert (await ledger(client, account_id=PAGE))["counts"]["fb_posts"] == 0


async def test_an_upload_needs_a_fetchable_url_and_can_be_faulted(
    client: httpx.AsyncClient,
) -> None:
    video_id = (await start(client))["video_id"]
    refused = await upload(client, video_id, "ftp://cdn.example.com/v.mp4")
    assert error_of(refused)["code"] == 6000
    await client.post(
        "/_sandbox/faults", json={"action": "http_500", "operation": "fb.reel_upload"}
    )
    assert (await upload(client, video_id, VIDEO)).status_code == 500
    assert (await upload(client, video_id, VIDEO)).json() == {"success": True}


async def test_alt_text_of_carousel_items_is_stored_and_readable(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    children = []
    for n in range(2):
        child = await post(
            client, f"/{IG}/media", image_url=IMAGE, is_carousel_item="true", alt_text=f"photo {n}"
        )
        children.append(child.json()["id"])
    parent = await post(
        client, f"/{IG}/media", media_type="CAROUSEL", children=",".join(children), caption="c"
    )
    clock.advance(10)
    media_id = (await post(client, f"/{IG}/media_publish", creation_id=parent.json()["id"])).json()[
        "id"
    ]
    book = await ledger(client, account_id=IG, kind="ig_media")
    [entry] = [m for m in book["ig_media"] if m["id"] == media_id]
    assert [c["alt_text"] for c in entry["children"]] == ["photo 0", "photo 1"]
    first = entry["children"][0]["id"]
    read = await get(client, f"/{first}", fields="alt_text")
    assert read.json()["alt_text"] == "photo 0"


async def test_a_videos_description_is_edited_and_its_post_follows(
    client: httpx.AsyncClient,
) -> None:
    video_id = (await start(client))["video_id"]
    await upload(client, video_id, VIDEO)
    await post(
        client, f"/{PAGE}/video_reels", upload_phase="finish", video_id=video_id,
        video_state="PUBLISHED", description="Cook wanted",
    )  # fmt: skip
    edited = await post(client, f"/{video_id}", description="Cook wanted (filled)")
    assert edited.json() == {"success": True}
    [entry] = (await ledger(client, account_id=PAGE))["fb_posts"]
    assert entry["message"] == "Cook wanted (filled)"
    assert error_of(await post(client, f"/{video_id}"))["code"] == 100

"""Comments on Page posts and IG media: made, listed, bounded, and broken on purpose."""

from __future__ import annotations

import httpx

from .helpers import IG, IMAGE, PAGE, add_fault, error_of, get, post


async def ig_media(client: httpx.AsyncClient) -> str:
    container = (await post(client, f"/{IG}/media", image_url=IMAGE, caption="job")).json()["id"]
    published = await post(client, f"/{IG}/media_publish", creation_id=container)
    media_id: str = published.json()["id"]
    return media_id


async def comments_of(client: httpx.AsyncClient, object_id: str) -> list[str]:
    listed = await client.get("/_sandbox/comments", params={"object_id": object_id})
    return [c["message"] for c in listed.json()["comments"]]


async def test_a_page_post_takes_comments_and_lists_them_newest_first(
    client: httpx.AsyncClient,
) -> None:
    post_id = (await post(client, f"/{PAGE}/feed", message="a job")).json()["id"]
    first = await post(client, f"/{post_id}/comments", message="#hiring")
    assert first.status_code == 200
    assert first.json()["id"].startswith(f"{post_id}_")
    await post(client, f"/{post_id}/comments", message="second")
    listed = (await get(client, f"/{post_id}/comments", fields="id,message")).json()
    assert [c["message"] for c in listed["data"]] == ["second", "#hiring"]
    paged = (await get(client, f"/{post_id}/comments", fields="message", limit=1)).json()
    assert paged["paging"]["cursors"]["after"]
    assert await comments_of(client, post_id) == ["#hiring", "second"]


async def test_ig_media_comments_carry_their_text_as_text(client: httpx.AsyncClient) -> None:
    media_id = await ig_media(client)
    assert (await post(client, f"/{media_id}/comments", message="#cook")).status_code == 200
    listed = (await get(client, f"/{media_id}/comments")).json()
    assert [c["text"] for c in listed["data"]] == ["#cook"]
    too_long = await post(client, f"/{media_id}/comments", message="x" * 2_201)
    assert error_of(too_long)["code"] == 100


async def test_a_comment_answered_500_after_it_was_made_exists_once(
    client: httpx.AsyncClient,
) -> None:
    media_id = await ig_media(client)
    await add_fault(client, action="http_500_after_create", operation="ig.comments")
    response = await post(client, f"/{media_id}/comments", message="#once")
    assert response.status_code == 500
    assert await comments_of(client, media_id) == ["#once"]


async def test_comments_on_an_unknown_object_are_refused(client: httpx.AsyncClient) -> None:
    response = await post(client, "/no-such-post/comments", message="hi")
    assert error_of(response)["code"] == 100

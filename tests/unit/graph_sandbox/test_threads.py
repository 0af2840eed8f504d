"""Threads publishing in the sandbox (graph.threads.net under `/threads-graph`): containers
and their states, publish once, the publishing limits, listing, replies, delete, tokens and
faults."""

from __future__ import annotations

from typing import Any

import httpx

from devtools.graph_sandbox import SandboxState

from .helpers import IMAGE, TOKEN, VIDEO, FakeClock, error_of

T = "/threads-graph/v1.0"
USER = "26000000000000001"


async def call(
    client: httpx.AsyncClient, method: str, path: str, token: str | None = TOKEN, **params: Any
) -> httpx.Response:
    if token is not None:
        params["access_token"] = token
    if method == "POST":
        return await client.post(f"{T}{path}", data=params)
    return await client.request(method, f"{T}{path}", params=params)


async def container(client: httpx.AsyncClient, **fields: Any) -> str:
    answer = await call(client, "POST", f"/{USER}/threads", **fields)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id"])


async def publish(client: httpx.AsyncClient, creation_id: str) -> httpx.Response:
    return await call(client, "POST", f"/{USER}/threads_publish", creation_id=creation_id)


async def post_text(client: httpx.AsyncClient, text: str) -> str:
    published = await publish(client, await container(client, media_type="TEXT", text=text))
    assert published.status_code == 200, published.text
    return str(published.json()["id"])


async def test_text_post_is_published_once_with_a_permalink(client: httpx.AsyncClient) -> None:
    creation_id = await container(client, media_type="TEXT", text="We are hiring a baker")
    status = await call(client, "GET", f"/{creation_id}", fields="status,error_message")
    assert status.json() == {"status": "FINISHED", "id": creation_id}
    published = await publish(client, creation_id)
    media_id = published.json()["id"]
    again = await publish(client, creation_id)
    assert error_of(again)["code"] == 24
    assert error_of(again)["error_subcode"] == 4279009  # published already: nothing new
    media = await call(client, "GET", f"/{media_id}", fields="id,permalink,text,media_type")
    assert media.json()["text"] == "We are hiring a baker"
    assert media.json()["media_type"] == "TEXT_POST"
    assert media.json()["permalink"].startswith("https://www.threads.net/@")
    status = await call(client, "GET", f"/{creation_id}", fields="status")
    assert status.json()["status"] == "PUBLISHED"
    ledger = (await client.get("/_sandbox/ledger", params={"account_id": USER})).json()
    assert ledger["counts"]["threads_media"] == 1
    assert ledger["threads_media"][0]["id"] == media_id


async def test_text_over_500_characters_is_refused_and_emojis_count_their_bytes(
    client: httpx.AsyncClient,
) -> None:
    too_long = await call(client, "POST", f"/{USER}/threads", media_type="TEXT", text="a" * 501)
    assert error_of(too_long)["code"] == 100
    emojis = "🍞" * 125 + "x"  # 125 four-byte emojis are 500; one more character is 501
    refused = await call(client, "POST", f"/{USER}/threads", media_type="TEXT", text=emojis)
    assert error_of(refused)["code"] == 100
    assert (
        await call(client, "POST", f"/{USER}/threads", media_type="TEXT", text="a" * 500)
    ).is_success


async def test_video_is_in_progress_until_processed_and_refused_before(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    creation_id = await container(client, media_type="VIDEO", video_url=VIDEO, text="Tour")
    status = await call(client, "GET", f"/{creation_id}", fields="status")
    assert status.json()["status"] == "IN_PROGRESS"
    early = await publish(client, creation_id)
    assert error_of(early)["error_subcode"] == 4279009
    clock.advance(3)
    assert (await publish(client, creation_id)).status_code == 200


async def test_a_video_meta_cannot_process_ends_in_error_with_its_message(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    creation_id = await container(
        client, media_type="VIDEO", video_url="https://cdn.example.com/x.avi"
    )
    clock.advance(3)
    status = await call(client, "GET", f"/{creation_id}", fields="status,error_message")
    assert status.json()["status"] == "ERROR"
    assert status.json()["error_message"] == "FAILED_PROCESSING_VIDEO"


async def test_containers_expire_after_24_hours(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    creation_id = await container(client, media_type="IMAGE", image_url=IMAGE)
    clock.advance(86_400)
    status = await call(client, "GET", f"/{creation_id}", fields="status")
    assert status.json()["status"] == "EXPIRED"


async def test_carousel_needs_two_to_twenty_items(client: httpx.AsyncClient) -> None:
    items = [
        await container(client, media_type="IMAGE", image_url=IMAGE, is_carousel_item="true")
        for _ in range(3)
    ]
    one = await call(client, "POST", f"/{USER}/threads", media_type="CAROUSEL", children=items[0])
    assert error_of(one)["code"] == 100
    carousel = await container(client, media_type="CAROUSEL", children=",".join(items), text="3")
    published = await publish(client, carousel)
    media = await call(client, "GET", f"/{published.json()['id']}", fields="media_type,children")
    assert media.json()["media_type"] == "CAROUSEL_ALBUM"
    assert len(media.json()["children"]["data"]) == 3
    item_alone = await publish(client, items[0])
    assert error_of(item_alone)["error_subcode"] == 4279009


async def test_replies_are_listed_under_their_thread_not_among_the_threads(
    client: httpx.AsyncClient,
) -> None:
    thread = await post_text(client, "Line cook wanted")
    reply = await publish(
        client, await container(client, media_type="TEXT", text="Apply here", reply_to_id=thread)
    )
    assert reply.status_code == 200
    replies = await call(client, "GET", f"/{thread}/replies", fields="id,text")
    assert [r["text"] for r in replies.json()["data"]] == ["Apply here"]
    listing = await call(client, "GET", f"/{USER}/threads", fields="id,text")
    assert [t["id"] for t in listing.json()["data"]] == [thread]
    limit = await call(
        client, "GET", f"/{USER}/threads_publishing_limit",
        fields="quota_usage,config,reply_quota_usage,reply_config",
    )  # fmt: skip
    assert limit.json()["data"][0] == {
        "quota_usage": 1,
        "config": {"quota_total": 250, "quota_duration": 86_400},
        "reply_quota_usage": 1,
        "reply_config": {"quota_total": 1000, "quota_duration": 86_400},
    }


async def test_listing_is_newest_first_and_since_narrows_it(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await post_text(client, "old")
    clock.advance(100)
    since = int(clock.now)
    await post_text(client, "new")
    everything = await call(client, "GET", f"/{USER}/threads", fields="text")
    assert [t["text"] for t in everything.json()["data"]] == ["new", "old"]
    recent = await call(client, "GET", f"/{USER}/threads", fields="text", since=since)
    assert [t["text"] for t in recent.json()["data"]] == ["new"]


async def test_past_the_publishing_limit_nothing_is_published(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    assert (await client.patch("/_sandbox/settings", json={"threads_quota_total": 2})).is_success
    await post_text(client, "one")
    await post_text(client, "two")
    third = await container(client, media_type="TEXT", text="three")
    refused = await publish(client, third)
    assert error_of(refused)["code"] == 17
    ledger = (await client.get("/_sandbox/ledger", params={"kind": "threads_media"})).json()
    assert ledger["counts"]["threads_media"] == 2
    clock.advance(86_401)
    assert (await publish(client, await container(client, media_type="TEXT", text="4"))).is_success


async def test_delete_takes_the_thread_down_once(client: httpx.AsyncClient) -> None:
    media_id = await post_text(client, "Closed job")
    deleted = await call(client, "DELETE", f"/{media_id}")
    assert deleted.json() == {"success": True, "deleted_id": media_id}
    again = await call(client, "DELETE", f"/{media_id}")
    assert (error_of(again)["code"], error_of(again)["error_subcode"]) == (100, 33)
    listing = await call(client, "GET", f"/{USER}/threads")
    assert listing.json()["data"] == []


async def test_an_account_registered_with_a_token_takes_only_that_token(
    client: httpx.AsyncClient, state: SandboxState
) -> None:
    registered = await client.post(
        "/_sandbox/accounts",
        json={"account_id": USER, "platform": "threads", "token": "THAA-right"},
    )
    assert registered.status_code == 201
    wrong = await call(client, "POST", f"/{USER}/threads", media_type="TEXT", text="x")
    assert error_of(wrong)["code"] == 190
    right = await call(
        client, "POST", f"/{USER}/threads", token="THAA-right", media_type="TEXT", text="x"
    )
    assert right.status_code == 200
    # Facebook's host does not know Threads profiles.
    on_facebook = await client.get(f"/v24.0/{USER}/feed", params={"access_token": "THAA-right"})
    assert on_facebook.status_code == 400
    assert state.accounts[USER].platform == "threads"


async def test_faults_apply_to_threads_calls(client: httpx.AsyncClient) -> None:
    rule = {"action": "http_500_after_create", "operation": "threads.publish", "times": 1}
    assert (await client.post("/_sandbox/faults", json=rule)).status_code == 201
    creation_id = await container(client, media_type="TEXT", text="Ambiguous")
    answer = await publish(client, creation_id)
    assert answer.status_code == 500
    assert error_of(answer)["code"] == 2
    ledger = (await client.get("/_sandbox/ledger", params={"kind": "threads_media"})).json()
    assert ledger["counts"]["threads_media"] == 1  # the post exists although the answer failed
    expired = {"action": "error", "operation": "threads.*", "code": 190, "subcode": 463}
    await client.post("/_sandbox/faults", json=expired)
    refused = await call(client, "GET", f"/{USER}/threads")
    assert (error_of(refused)["code"], error_of(refused)["error_subcode"]) == (190, 463)

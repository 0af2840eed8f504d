"""Every fault action, and how rules select calls."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from devtools.graph_sandbox import SimulatedConnectionReset

from .helpers import IG, IMAGE, PAGE, add_fault, error_of, get, ledger, post


async def test_http_500_after_create_leaves_the_post(client: httpx.AsyncClient) -> None:
    await add_fault(client, action="http_500_after_create", operation="fb.feed")
    response = await post(client, f"/{PAGE}/feed", message="ambiguous job 9")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == 2
    assert error["is_transient"] is True
    book = await ledger(client, account_id=PAGE, contains="ambiguous job 9")
    assert book["counts"]["fb_posts"] == 1
    listed = await get(client, f"/{PAGE}/published_posts", fields="message")
    assert [p["message"] for p in listed.json()["data"]] == ["ambiguous job 9"]
    # times defaults to 1: the next call is healthy
    assert (await post(client, f"/{PAGE}/feed", message="next")).status_code == 200


async def test_http_500_creates_nothing(client: httpx.AsyncClient) -> None:
    await add_fault(client, action="http_500", operation="fb.photos", code=1)
    response = await post(client, f"/{PAGE}/photos", url=IMAGE)
    assert response.status_code == 500
    assert error_of(response)["code"] == 1
    assert (await ledger(client))["counts"]["fb_posts"] == 0


async def test_http_500_after_create_on_ig_publish(client: httpx.AsyncClient) -> None:
    created = await post(client, f"/{IG}/media", image_url=IMAGE, caption="ig ambiguous")
    container_id = created.json()["id"]
    await add_fault(client, action="http_500_after_create", operation="ig.media_publish")
    response = await post(client, f"/{IG}/media_publish", creation_id=container_id)
    assert response.status_code == 500
    status = await get(client, f"/{container_id}", fields="status_code")
    assert status.json()["status_code"] == "PUBLISHED"
    assert (await ledger(client, account_id=IG))["counts"]["ig_media"] == 1


@pytest.mark.parametrize(
    ("code", "subcode", "http_status"),
    [
        (4, None, 403),
        (17, None, 400),
        (32, None, 400),
        (613, None, 400),
        (190, 463, 400),
        (190, 460, 400),
        (368, 1390008, 400),
        (506, None, 400),
        (9004, 2207052, 400),
        (352, 2207026, 400),
        (9007, 2207027, 400),
    ],
)
async def test_error_action_shapes(
    client: httpx.AsyncClient, code: int, subcode: int | None, http_status: int
) -> None:
    await add_fault(client, action="error", code=code, subcode=subcode)
    response = await post(client, f"/{PAGE}/feed", message="x")
    assert response.status_code == http_status
    error = error_of(response)
    assert error["code"] == code
    assert error.get("error_subcode") == subcode
    assert set(error) >= {"message", "type", "code", "is_transient", "fbtrace_id"}
    assert error["type"] == "OAuthException"
    if code == 4:
        assert json.loads(response.headers["x-app-usage"])["call_count"] >= 100
    assert (await ledger(client))["counts"]["fb_posts"] == 0


async def test_error_80001_carries_regain_time(client: httpx.AsyncClient) -> None:
    await add_fault(
        client, action="error", code=80001, account_id=PAGE, estimated_time_to_regain_access=7
    )
    response = await post(client, f"/{PAGE}/feed", message="x")
    assert error_of(response)["code"] == 80001
    usage = json.loads(response.headers["x-business-use-case-usage"])[PAGE][0]
    assert usage["type"] == "pages"
    assert usage["call_count"] >= 100
    assert usage["estimated_time_to_regain_access"] == 7


async def test_error_after_create(client: httpx.AsyncClient) -> None:
    await add_fault(
        client,
        action="error",
        code=4,
        subcode=2207051,
        after_create=True,
        operation="ig.media_publish",
    )
    created = await post(client, f"/{IG}/media", image_url=IMAGE, caption="spam?")
    response = await post(client, f"/{IG}/media_publish", creation_id=created.json()["id"])
    assert error_of(response)["error_subcode"] == 2207051
    assert (await ledger(client))["counts"]["ig_media"] == 1


async def test_custom_error_message_and_status(client: httpx.AsyncClient) -> None:
    await add_fault(
        client,
        action="error",
        code=1609005,
        message="link broken",
        http_status=400,
        is_transient=False,
    )
    response = await post(client, f"/{PAGE}/feed", message="x", link="https://example.com")
    assert error_of(response)["message"] == "link broken"
    assert error_of(response)["is_transient"] is False


async def test_latency_fault_delays(client: httpx.AsyncClient) -> None:
    await add_fault(client, latency_ms=150, operation="fb.feed")
    started = time.monotonic()
    response = await post(client, f"/{PAGE}/feed", message="slow")
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    await post(client, f"/{PAGE}/feed", message="fast")
    assert time.monotonic() - started < 0.15


async def test_timeout_after_create_leaves_post_for_a_client_that_gave_up(
    client: httpx.AsyncClient,
) -> None:
    await add_fault(client, action="timeout", timeout_s=5, after_create=True, operation="fb.feed")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(post(client, f"/{PAGE}/feed", message="timed out job"), 0.2)
    book = await ledger(client, contains="timed out job")
    assert book["counts"]["fb_posts"] == 1


async def test_timeout_without_create(client: httpx.AsyncClient) -> None:
    await add_fault(client, action="timeout", timeout_s=5, operation="fb.feed")
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(post(client, f"/{PAGE}/feed", message="never"), 0.2)
    assert (await ledger(client))["counts"]["fb_posts"] == 0


async def test_timeout_eventually_answers_500(client: httpx.AsyncClient) -> None:
    await add_fault(client, action="timeout", timeout_s=0.05, operation="fb.feed")
    response = await post(client, f"/{PAGE}/feed", message="late")
    assert response.status_code == 500
    assert error_of(response)["code"] == 2


async def test_container_error_on_create(client: httpx.AsyncClient) -> None:
    await add_fault(client, action="container_error", operation="ig.media")
    created = await post(client, f"/{IG}/media", image_url=IMAGE, caption="broken")
    assert created.status_code == 200
    container_id = created.json()["id"]
    status = await get(client, f"/{container_id}", fields="status_code,status")
    assert status.json()["status_code"] == "ERROR"
    assert status.json()["status"] == "Error: Media upload has failed with error code 2207053"
    response = await post(client, f"/{IG}/media_publish", creation_id=container_id)
    assert error_of(response)["error_subcode"] == 2207053
    assert (await ledger(client))["counts"]["ig_media"] == 0


async def test_container_error_on_status_poll(client: httpx.AsyncClient) -> None:
    created = await post(client, f"/{IG}/media", image_url=IMAGE)
    await add_fault(
        client, action="container_error", operation="ig.container_status", subcode=2207026
    )
    status = await get(client, f"/{created.json()['id']}", fields="status_code")
    assert status.json()["status_code"] == "ERROR"


async def test_connection_reset_in_process(client: httpx.AsyncClient) -> None:
    await add_fault(client, action="connection_reset", operation="fb.feed", after_create=True)
    with pytest.raises(SimulatedConnectionReset):
        await post(client, f"/{PAGE}/feed", message="reset job")
    assert (await ledger(client, contains="reset job"))["counts"]["fb_posts"] == 1
    calls = (await client.get("/_sandbox/calls")).json()["calls"]
    assert calls[-1]["error_code"] == "connection_reset"


async def test_times_and_forever(client: httpx.AsyncClient) -> None:
    await add_fault(client, action="http_500", operation="fb.feed", times=2)
    statuses = [
        (await post(client, f"/{PAGE}/feed", message=f"m{n}")).status_code for n in range(3)
    ]
    assert statuses == [500, 500, 200]
    await client.delete("/_sandbox/faults")
    await add_fault(client, action="http_500", operation="fb.feed", times=None)
    statuses = [
        (await post(client, f"/{PAGE}/feed", message=f"f{n}")).status_code for n in range(4)
    ]
    assert statuses == [500, 500, 500, 500]
    faults = (await client.get("/_sandbox/faults")).json()["faults"]
    assert faults[0]["hits"] == 4
    assert faults[0]["remaining"] is None


async def test_selectors(client: httpx.AsyncClient) -> None:
    await add_fault(client, action="http_500", account_id="2002", times=None)
    await add_fault(client, action="error", code=100, operation="ig.*", times=None)
    await add_fault(
        client, action="error", code=32, path_pattern="/photos$", method="POST", times=None
    )
    assert (await post(client, f"/{PAGE}/feed", message="a")).status_code == 200
    assert (await post(client, "/2002/feed", message="b")).status_code == 500
    ig = await post(client, f"/{IG}/media", image_url=IMAGE)
    assert error_of(ig)["code"] == 100
    photo = await post(client, f"/{PAGE}/photos", url=IMAGE)
    assert error_of(photo)["code"] == 32


async def test_fault_control_api(client: httpx.AsyncClient) -> None:
    bad = await client.post("/_sandbox/faults", json={"action": "error"})
    assert bad.status_code == 422
    unknown = await client.post("/_sandbox/faults", json={"action": "explode"})
    assert unknown.status_code == 422
    rule = await add_fault(client, action="http_500", operation="fb.feed", times=3)
    assert rule["id"].startswith("fault-")
    assert rule["remaining"] == 3
    removed = await client.delete(f"/_sandbox/faults/{rule['id']}")
    assert removed.status_code == 200
    assert (await post(client, f"/{PAGE}/feed", message="ok")).status_code == 200
    await add_fault(client, action="http_500", times=None)
    await client.delete("/_sandbox/faults")
    assert (await post(client, f"/{PAGE}/feed", message="ok again")).status_code == 200

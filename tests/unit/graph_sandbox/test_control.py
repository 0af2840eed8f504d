"""The /_sandbox control API: ledger, call log (token-free), accounts, settings, reset."""

from __future__ import annotations

import json

import httpx

from devtools.graph_sandbox import SandboxState

from .helpers import IG, IMAGE, PAGE, V, add_fault, get, ledger, post, publish_image, register


async def test_ledger_filters_and_counts(client: httpx.AsyncClient) -> None:
    await post(client, f"/{PAGE}/feed", message="job-1 at page A")
    await post(client, f"/{PAGE}/feed", message="job-2 at page A")
    await post(client, "/2002/feed", message="job-1 at page B")
    await publish_image(client, "job-1 on IG")

    everything = await ledger(client)
    assert everything["counts"] == {
        "fb_posts": 3,
        "fb_photos": 0,
        "fb_videos": 0,
        "ig_containers": 1,
        "ig_media": 1,
        "threads_containers": 0,
        "threads_media": 0,
    }
    job1_page_a = await ledger(client, account_id=PAGE, kind="fb_posts", contains="job-1")
    assert [p["message"] for p in job1_page_a["fb_posts"]] == ["job-1 at page A"]
    assert job1_page_a["ig_media"] == []
    ig_only = await ledger(client, kind="ig_media", contains="job-1")
    assert ig_only["fb_posts"] == []
    assert ig_only["ig_media"][0]["ig_user_id"] == IG
    bad = await client.get("/_sandbox/ledger", params={"kind": "tweets"})
    assert bad.status_code == 400


async def test_calls_never_contain_tokens(client: httpx.AsyncClient) -> None:
    secret_tokens = ["query-tok-AAAA", "form-tok-BBBB", "header-tok-CCCC", "json-tok-DDDD"]
    await client.get(f"{V}/{PAGE}/published_posts", params={"access_token": secret_tokens[0]})
    await client.post(f"{V}/{PAGE}/feed", data={"message": "m", "access_token": secret_tokens[1]})
    await client.post(
        f"{V}/{PAGE}/feed",
        data={"message": "m"},
        headers={"Authorization": f"Bearer {secret_tokens[2]}"},
    )
    await client.post(f"{V}/{PAGE}/feed", json={"message": "m", "access_token": secret_tokens[3]})
    # A token that also shows up in the path is masked there too.
    await client.get(f"{V}/{secret_tokens[0]}", params={"access_token": secret_tokens[0]})
    await client.get(f"{V}/debug_token", params={"input_token": "in-tok-EEEE", "access_token": "x"})
    response = await client.get("/_sandbox/calls")
    raw = response.text
    for token in [*secret_tokens, "in-tok-EEEE"]:
        assert token not in raw
    calls = response.json()["calls"]
    assert len(calls) == 6
    assert all(call["token"] == "[REDACTED]" for call in calls)
    assert calls[1]["operation"] == "fb.feed"
    assert calls[1]["account_id"] == PAGE
    assert calls[1]["status"] == 200
    assert calls[4]["path"] == "/[REDACTED]"
    assert calls[4]["error_code"] == 100


async def test_calls_filter_and_limit(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await post(client, f"/{PAGE}/feed", message=f"{n}")
    await post(client, f"/{IG}/media", image_url=IMAGE)
    only_ig = (await client.get("/_sandbox/calls", params={"account_id": IG})).json()["calls"]
    assert [c["operation"] for c in only_ig] == ["ig.media"]
    last_two = (await client.get("/_sandbox/calls", params={"limit": 2})).json()["calls"]
    assert [c["operation"] for c in last_two] == ["fb.feed", "ig.media"]


async def test_accounts_hide_tokens(client: httpx.AsyncClient) -> None:
    created = await register(
        client, account_id=PAGE, platform="facebook", token="very-secret", permissions=["b", "a"]
    )
    assert created["has_token"] is True
    assert created["permissions"] == ["a", "b"]
    listed = await client.get("/_sandbox/accounts")
    assert "very-secret" not in listed.text
    invalid = await client.post(
        "/_sandbox/accounts", json={"account_id": "x", "platform": "tiktok"}
    )
    assert invalid.status_code == 422


async def test_settings_patch_and_redaction(client: httpx.AsyncClient) -> None:
    patched = await client.patch(
        "/_sandbox/settings", json={"base_latency_ms": 5, "app_secret": "shh", "ig_quota_total": 7}
    )
    body = patched.json()
    assert body["base_latency_ms"] == 5
    assert body["ig_quota_total"] == 7
    assert body["app_secret"] == "[REDACTED]"
    assert "shh" not in patched.text
    limit = await get(client, f"/{IG}/content_publishing_limit", fields="config")
    assert limit.json()["data"][0]["config"]["quota_total"] == 7
    assert (await client.patch("/_sandbox/settings", json={"nope": 1})).status_code == 422


async def test_reset_clears_everything(client: httpx.AsyncClient, state: SandboxState) -> None:
    await register(client, account_id=PAGE, platform="facebook", token="t")
    await post(client, f"/{PAGE}/feed", token="t", message="m")
    await add_fault(client, action="http_500", times=None)
    await client.patch("/_sandbox/settings", json={"base_latency_ms": 9})
    assert (await client.post("/_sandbox/reset")).json() == {"reset": True}
    book = await ledger(client)
    assert book["counts"]["fb_posts"] == 0
    assert (await client.get("/_sandbox/faults")).json()["faults"] == []
    assert (await client.get("/_sandbox/accounts")).json()["accounts"] == []
    assert state.settings.base_latency_ms == 0
    assert (await post(client, f"/{PAGE}/feed", token="any", message="m")).status_code == 200
    assert len((await client.get("/_sandbox/calls")).json()["calls"]) == 1


async def test_clock_advance_expires_containers(client: httpx.AsyncClient) -> None:
    created = await post(client, f"/{IG}/media", image_url=IMAGE)
    advanced = await client.post("/_sandbox/clock/advance", json={"seconds": 86_400})
    assert advanced.json()["offset_s"] == 86_400
    status = await get(client, f"/{created.json()['id']}", fields="status_code")
    assert status.json()["status_code"] == "EXPIRED"


async def test_health_lists_operations(client: httpx.AsyncClient) -> None:
    body = (await client.get("/_sandbox/health")).json()
    assert body["ok"] is True
    assert {"fb.feed", "ig.media", "ig.media_publish", "ig.container_status"} <= set(
        body["operations"]
    )


async def test_ledger_json_is_plain(client: httpx.AsyncClient) -> None:
    await post(client, f"/{PAGE}/feed", message="m")
    raw = (await client.get("/_sandbox/ledger")).text
    assert json.loads(raw)["fb_posts"][0]["page_id"] == PAGE

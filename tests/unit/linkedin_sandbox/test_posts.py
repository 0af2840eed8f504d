"""The fake LinkedIn's Posts API: create, find by author, partial update, delete, errors."""

from __future__ import annotations

import httpx

from devtools.graph_sandbox import FaultRule, SandboxState
from tests.unit.graph_sandbox.helpers import FakeClock

from .helpers import API, AUTHOR, HEADERS, ORG, create_post, post_body, upload_image


async def test_an_article_post_is_created_with_its_urn_in_x_restli_id(
    client: httpx.AsyncClient, state: SandboxState
) -> None:
    article = {"article": {"source": "https://jobs.example.com/1", "title": "Cook"}}
    response = await create_post(client, content=article)
    assert response.status_code == 201, response.text
    urn = response.headers["x-restli-id"]
    assert urn.startswith("urn:li:share:")
    got = await client.get(f"{API}/rest/posts/{urn}", headers=HEADERS)
    assert got.json()["commentary"] == "We are hiring"
    assert got.json()["content"] == article
    assert state.linkedin.posts[urn].permalink == f"https://www.linkedin.com/feed/update/{urn}/"


async def test_find_by_author_lists_the_newest_first(
    client: httpx.AsyncClient, state: SandboxState, clock: FakeClock
) -> None:
    first = (await create_post(client, commentary="one")).headers["x-restli-id"]
    clock.advance(1)
    second = (await create_post(client, commentary="two")).headers["x-restli-id"]
    found = await client.get(
        f"{API}/rest/posts", params={"q": "author", "author": AUTHOR, "count": "10"},
        headers=HEADERS,
    )  # fmt: skip
    assert [p["id"] for p in found.json()["elements"]] == [second, first]


async def test_a_partial_update_changes_the_commentary_and_delete_removes_the_post(
    client: httpx.AsyncClient,
) -> None:
    urn = (await create_post(client)).headers["x-restli-id"]
    patch = {"patch": {"$set": {"commentary": "Still hiring"}}}
    updated = await client.post(
        f"{API}/rest/posts/{urn}", json=patch,
        headers={**HEADERS, "X-RestLi-Method": "PARTIAL_UPDATE"},
    )  # fmt: skip
    assert updated.status_code == 204, updated.text
    got = await client.get(f"{API}/rest/posts/{urn}", headers=HEADERS)
    assert got.json()["commentary"] == "Still hiring"
    assert (await client.delete(f"{API}/rest/posts/{urn}", headers=HEADERS)).status_code == 204
    gone = await client.get(f"{API}/rest/posts/{urn}", headers=HEADERS)
    assert gone.status_code == 404


async def test_the_version_header_is_required_and_checked(client: httpx.AsyncClient) -> None:
    no_version = {k: v for k, v in HEADERS.items() if k != "LinkedIn-Version"}
    missing = await client.post(f"{API}/rest/posts", json=post_body(), headers=no_version)
    assert missing.status_code == 400
    assert missing.json()["code"] == "VERSION_MISSING"
    old = await client.post(
        f"{API}/rest/posts", json=post_body(), headers={**HEADERS, "LinkedIn-Version": "202301"}
    )
    assert old.status_code == 426
    assert old.json()["code"] == "NONEXISTENT_VERSION"


async def test_no_token_is_401_and_a_long_commentary_422(client: httpx.AsyncClient) -> None:
    no_token = {k: v for k, v in HEADERS.items() if k != "Authorization"}
    refused = await client.post(f"{API}/rest/posts", json=post_body(), headers=no_token)
    assert refused.status_code == 401
    assert refused.json()["serviceErrorCode"] == 401
    too_long = await create_post(client, commentary="x" * 3001)
    assert too_long.status_code == 422
    assert "/commentary" in too_long.json()["message"]


async def test_an_image_post_needs_an_available_image(
    client: httpx.AsyncClient, state: SandboxState, clock: FakeClock
) -> None:
    state.linkedin.settings.image_processing_s = 5
    image = await upload_image(client)
    status = await client.get(f"{API}/rest/images/{image}", headers=HEADERS)
    assert status.json()["status"] == "PROCESSING"
    early = await create_post(client, content={"media": {"id": image}})
    assert early.status_code == 422
    clock.advance(5)
    status = await client.get(f"{API}/rest/images/{image}", headers=HEADERS)
    assert status.json()["status"] == "AVAILABLE"
    made = await create_post(client, content={"media": {"id": image}})
    assert made.status_code == 201, made.text


async def test_bytes_that_are_no_image_end_in_processing_failed(
    client: httpx.AsyncClient,
) -> None:
    image = await upload_image(client, b"not an image")
    status = await client.get(f"{API}/rest/images/{image}", headers=HEADERS)
    assert status.json()["status"] == "PROCESSING_FAILED"


async def test_a_500_after_create_leaves_the_post_in_the_ledger(
    client: httpx.AsyncClient, state: SandboxState
) -> None:
    state.faults.add(FaultRule(action="http_500_after_create", operation="li.posts.create"))
    failed = await create_post(client)
    assert failed.status_code == 500
    ledger = await client.get("/_sandbox/linkedin/ledger", params={"organization_id": ORG})
    assert ledger.json()["counts"]["posts"] == 1
    calls = await client.get("/_sandbox/calls", params={"operation": "li.posts.create"})
    assert calls.json()["calls"][0]["token"] == "[REDACTED]"


async def test_a_429_fault_speaks_linkedins_throttle_message(
    client: httpx.AsyncClient, state: SandboxState
) -> None:
    state.faults.add(
        FaultRule(action="error", code=429, http_status=429, error_type="APPLICATION",
                  account_id=ORG)
    )  # fmt: skip
    throttled = await create_post(client)
    assert throttled.status_code == 429
    assert "APPLICATION DAY limit" in throttled.json()["message"]
    assert not state.linkedin.posts

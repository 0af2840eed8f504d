"""The fake LinkedIn served by the Graph sandbox's own HTTP server on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from devtools.graph_sandbox import SandboxState, create_app
from devtools.graph_sandbox.server import SandboxServer

from .helpers import API, HEADERS, JPEG, ORG, post_body, upload_image

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    state = SandboxState()
    server = SandboxServer(state, create_app(state))
    port = await server.start("127.0.0.1", 0)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        yield client
    await server.shutdown(1.0)


async def test_a_post_and_an_upload_go_through_the_sandbox_server(
    http: httpx.AsyncClient,
) -> None:
    image = await upload_image(http, JPEG + b"\x00" * 2_000_000)  # over the control API's limit
    made = await http.post(
        f"{API}/rest/posts", json=post_body(content={"media": {"id": image}}), headers=HEADERS
    )
    assert made.status_code == 201, made.text
    ledger = (await http.get("/_sandbox/linkedin/ledger", params={"organization_id": ORG})).json()
    assert ledger["counts"] == {"posts": 1, "images": 1}
    assert ledger["images"][0]["size"] == len(JPEG) + 2_000_000
    unknown = await http.get(f"{API}/rest/nothing", headers=HEADERS)
    assert unknown.status_code == 404
    assert unknown.json()["status"] == 404

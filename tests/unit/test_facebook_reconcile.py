"""Facebook reconciliation reads every post since the claim, not only the newest few."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from devtools.graph_sandbox import SandboxSettings, SandboxState, create_app
from jobcast.graph.client import GraphClient
from schemas import Platform, PostContent, PublishCommand, make_post_key
from services.publisher_facebook.poster import FacebookPoster
from services.publishing.posting import Absent, Attempt, Posted
from tests.graph_stub import graph_stub

PAGE = "1001"


@pytest.fixture
async def graph() -> AsyncIterator[GraphClient]:
    state = SandboxState(SandboxSettings(account_hourly_budget=0))
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as sandbox:

        async def forward(request: httpx.Request) -> httpx.Response:
            sent = sandbox.build_request(
                request.method,
                request.url.copy_with(scheme="http", host="sandbox", port=None),
                headers=request.headers,
                content=request.content,
            )
            return await sandbox.send(sent)

        # The Graph client's session, on a local server that hands each call to the sandbox.
        async with graph_stub(forward) as http:
            yield GraphClient(http, "v24.0", None)


def attempt(graph: GraphClient, text: str, since: datetime) -> Attempt[GraphClient]:
    command = PublishCommand(
        post_key=make_post_key(uuid.uuid4(), "job-1", uuid.uuid4(), 1),
        platform=Platform.FACEBOOK,
        connection_id=uuid.uuid4(),
        account_id=PAGE,
        job_id="job-1",
        revision=1,
        content=PostContent(text=text),
    )

    async def checkpoint() -> None:
        return None

    return Attempt(graph, command, "page-token", {}, since, checkpoint)


async def post(graph: GraphClient, text: str) -> None:
    await graph.call("POST", f"{PAGE}/feed", "page-token", data={"message": text})


async def test_a_post_buried_under_many_newer_ones_is_still_found(graph: GraphClient) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    await post(graph, "Line cook at Warung Laut")
    for i in range(250):  # more than two pages of newer posts on the same Page
        await post(graph, f"Another job {i}")
    found = await FacebookPoster().reconcile(attempt(graph, "Line cook at Warung Laut", since))
    assert isinstance(found, Posted)


async def test_a_post_that_is_not_there_is_absent_after_reading_every_page(
    graph: GraphClient,
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    for i in range(250):
        await post(graph, f"Another job {i}")
    missing = await FacebookPoster().reconcile(attempt(graph, "Line cook at Warung Laut", since))
    assert isinstance(missing, Absent)

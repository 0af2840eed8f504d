"""The Instagram poster's call sequence, against a scripted Graph API (tests.graph_stub)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import HttpUrl

from jobcast.graph.client import GraphClient
from schemas import MediaItem, MediaKind, Platform, PostContent, PublishCommand, make_post_key
from services.publisher_instagram.poster import InstagramPoster
from services.publishing.containers import ContainerTiming
from services.publishing.posting import Attempt, Posted
from tests.graph_stub import graph_stub
from tests.publishing_fakes import read_through

pytestmark = pytest.mark.timeout(10)

IG_USER = "17841400000000001"
NOT_READY = {"error": {"message": "Media ID is not available", "code": 9007,
                       "error_subcode": 2207027}}  # fmt: skip
QUOTA = {"quota_usage": 1, "config": {"quota_total": 100, "quota_duration": 86400}}


class ScriptedGraph:
    """Answers by (method, last path segment); records every call in order."""

    def __init__(
        self,
        container_states: list[str],
        publish_errors: int = 0,
        publish_answer: tuple[int, dict[str, Any]] | None = None,
    ) -> None:
        self.calls: list[str] = []
        self.container_states = container_states
        self.publish_errors = publish_errors
        self.publish_answer = publish_answer  # instead of the bare id
        self.publish_queries: list[str] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        last = request.url.path.rsplit("/", 1)[-1]
        self.calls.append(f"{request.method} {last}")
        if request.method == "POST" and last == "media_publish" and self.publish_errors:
            self.publish_errors -= 1
            return httpx.Response(400, json=NOT_READY)
        if request.method == "POST" and last == "media_publish":
            self.publish_queries.append(request.url.query.decode())
            if self.publish_answer is not None:
                return httpx.Response(self.publish_answer[0], json=self.publish_answer[1])
        answers: dict[str, dict[str, Any]] = {
            "POST media": {"id": "container-1"},
            "POST media_publish": {"id": "media-1"},
            "GET content_publishing_limit": {"data": [QUOTA]},
            "GET media-1": {"permalink": "https://www.instagram.com/p/abc/"},
        }
        if last == "container-1":
            return httpx.Response(200, json={"status_code": self.container_states.pop(0)})
        answer = answers.get(f"{request.method} {last}")
        if answer is None:
            return httpx.Response(400, json={"error": {"message": "unexpected", "code": 100}})
        return httpx.Response(200, json=answer)


async def attempt_for(
    graph: ScriptedGraph, media: list[MediaItem], progress: dict[str, Any] | None = None
) -> tuple[Attempt[GraphClient], Callable[[], Awaitable[None]]]:
    stack = AsyncExitStack()
    client = await stack.enter_async_context(graph_stub(graph.handle))
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    command = PublishCommand(
        post_key=make_post_key(tenant, "job-1", connection, 1), platform=Platform.INSTAGRAM,
        connection_id=connection, account_id=IG_USER, job_id="job-1", revision=1,
        content=PostContent(text="Barista wanted #BaliJobs", media=media),
    )  # fmt: skip
    saved: list[str] = []

    async def checkpoint() -> None:
        saved.append(json.dumps(attempt.progress))

    attempt = Attempt(
        GraphClient(client, "v24.0", None), command, "token-abc", progress or {},
        datetime.now(UTC), checkpoint,
    )  # fmt: skip
    return attempt, stack.aclose


IMAGE = MediaItem(kind=MediaKind.IMAGE, url="https://cdn.example.com/a.jpg")
VIDEO = MediaItem(kind=MediaKind.VIDEO, url="https://cdn.example.com/a.mp4")
FAST = ContainerTiming(poll_interval_seconds=0.01)


async def test_a_fresh_image_is_published_without_polling_first() -> None:
    graph = ScriptedGraph(container_states=[])
    attempt, close = await attempt_for(graph, [IMAGE])
    published = await InstagramPoster(FAST).publish(attempt)
    assert graph.calls[-1] == "POST media_publish"  # the permalink is read later
    posted = await read_through(published)
    await close()
    assert posted.platform_post_id == "media-1"
    assert str(posted.permalink) == "https://www.instagram.com/p/abc/"
    # The quota is read before any container: one over quota would never be published.
    assert graph.calls == [
        "GET content_publishing_limit", "POST media", "POST media_publish", "GET media-1",
    ]  # fmt: skip
    assert attempt.progress["container_id"] == "container-1"


async def test_a_container_made_ahead_is_published_at_once_in_the_posts_turn() -> None:
    graph = ScriptedGraph(container_states=[])
    attempt, close = await attempt_for(graph, [IMAGE])
    poster = InstagramPoster(FAST)
    await poster.prepare(attempt)
    assert graph.calls == ["GET content_publishing_limit", "POST media"]
    assert attempt.progress["container_id"] == "container-1"
    posted = await poster.publish(attempt)
    await close()
    assert posted.platform_post_id == "media-1"
    # Made by this try: tried at once, not polled first (and not made again).
    assert graph.calls[2:] == ["POST media_publish"]


async def test_posts_prepared_together_read_the_publishing_limit_once() -> None:
    graph = ScriptedGraph(container_states=[])
    poster = InstagramPoster(FAST)
    attempts = [await attempt_for(graph, [IMAGE]) for _ in range(3)]
    await asyncio.gather(*(poster.prepare(attempt) for attempt, _ in attempts))
    for _, close in attempts:
        await close()
    assert graph.calls.count("GET content_publishing_limit") == 1
    assert graph.calls.count("POST media") == 3


async def test_a_container_of_an_earlier_try_is_looked_at_before_publishing() -> None:
    graph = ScriptedGraph(container_states=["FINISHED"])
    earlier = {"container_id": "container-1", "container_created": time.time() - 60}
    attempt, close = await attempt_for(graph, [IMAGE], earlier)
    await InstagramPoster(FAST).prepare(attempt)  # nothing to make
    posted = await InstagramPoster(FAST).publish(attempt)
    await close()
    assert posted.platform_post_id == "media-1"
    assert graph.calls == ["GET container-1", "GET content_publishing_limit", "POST media_publish"]


async def test_the_permalink_comes_with_the_publish_answer_where_meta_offers_it() -> None:
    # Read-after-write: `fields` on media_publish, one round trip fewer per post.
    answer = {"id": "media-1", "permalink": "https://www.instagram.com/p/raw/"}
    graph = ScriptedGraph(container_states=[], publish_answer=(200, answer))
    attempt, close = await attempt_for(graph, [IMAGE])
    posted = await InstagramPoster(FAST).publish(attempt)
    await close()
    assert (posted.platform_post_id, str(posted.permalink)) == (
        "media-1", "https://www.instagram.com/p/raw/"
    )  # fmt: skip
    assert graph.calls == ["GET content_publishing_limit", "POST media", "POST media_publish"]
    assert [parse_qs(query) for query in graph.publish_queries] == [{"fields": ["id,permalink"]}]


async def test_a_publish_whose_read_after_write_failed_is_still_a_post() -> None:
    # Meta: the write stands; the error carries what the write alone answers.
    failed_read = {"error": {"message": "(#100) Tried accessing nonexisting field",
                             "code": 100, "original_response": {"id": "media-1"}}}  # fmt: skip
    graph = ScriptedGraph(container_states=[], publish_answer=(400, failed_read))
    attempt, close = await attempt_for(graph, [IMAGE])
    posted = await read_through(await InstagramPoster(FAST).publish(attempt))
    await close()
    assert posted.platform_post_id == "media-1"
    assert str(posted.permalink) == "https://www.instagram.com/p/abc/"  # read separately
    assert graph.calls[-2:] == ["POST media_publish", "GET media-1"]


async def test_an_image_not_ready_yet_is_polled_and_then_published() -> None:
    graph = ScriptedGraph(container_states=["IN_PROGRESS", "FINISHED"], publish_errors=1)
    attempt, close = await attempt_for(graph, [IMAGE])
    posted = await read_through(await InstagramPoster(FAST).publish(attempt))
    await close()
    assert posted.platform_post_id == "media-1"
    assert graph.calls == [
        "GET content_publishing_limit", "POST media", "POST media_publish",
        "GET container-1", "GET container-1", "POST media_publish", "GET media-1",
    ]  # fmt: skip


async def test_a_video_and_a_resumed_container_are_looked_at_before_publishing() -> None:
    for media, progress in (([VIDEO], None), ([IMAGE], {"container_id": "container-1"})):
        graph = ScriptedGraph(container_states=["FINISHED"])
        attempt, close = await attempt_for(graph, media, progress)
        await InstagramPoster(FAST).publish(attempt)
        await close()
        publish_at = graph.calls.index("POST media_publish")
        assert "GET container-1" in graph.calls[:publish_at], graph.calls


async def test_a_published_container_is_reconciled_to_its_media_past_the_newest_page() -> None:
    # A busy account posted many times between the ambiguous publish and the check: ours
    # is on the second page of its media.
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    later = [{"id": f"other-{n}", "caption": f"Job {n}", "timestamp": now} for n in range(100)]
    ours = {"id": "media-1", "caption": "Barista wanted #BaliJobs", "timestamp": now}
    pages = {
        None: {"data": later, "paging": {"cursors": {"after": "p2"}, "next": "https://next"}},
        "p2": {"data": [ours], "paging": {"cursors": {"after": "p3"}}},
    }
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        last = request.url.path.rsplit("/", 1)[-1]
        calls.append(f"{request.method} {last}")
        if last == "container-1":
            return httpx.Response(200, json={"status_code": "PUBLISHED"})
        if last == "media":
            return httpx.Response(200, json=pages[request.url.params.get("after")])
        return httpx.Response(200, json={"permalink": "https://www.instagram.com/p/abc/"})

    graph = ScriptedGraph(container_states=[])
    graph.handle = handle  # type: ignore[method-assign]
    attempt, close = await attempt_for(graph, [IMAGE], {"container_id": "container-1"})
    reconciled = await InstagramPoster(FAST).reconcile(attempt)
    assert isinstance(reconciled, Posted)
    found = await read_through(reconciled)
    await close()
    assert found == Posted("media-1", HttpUrl("https://www.instagram.com/p/abc/"))
    assert calls == ["GET container-1", "GET media", "GET media", "GET media-1"]

"""Facebook Page Reels: start → upload host → finish, resumed and reconciled by the video."""

from __future__ import annotations

import json
import uuid
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from jobcast.graph.client import GraphClient, GraphError
from jobcast.platform_api import AmbiguousOutcomeError
from schemas import MediaItem, MediaKind, Platform, PostContent, PublishCommand, make_post_key
from schemas.media import PostFormat
from services.publisher_facebook.poster import FacebookPoster
from services.publisher_facebook.reels import ReelUploader
from services.publishing.posting import Absent, Attempt, Posted
from tests.graph_stub import graph_stub
from tests.publishing_fakes import read_through

pytestmark = pytest.mark.timeout(10)

PAGE = "1001"
VIDEO = "https://cdn.example.com/tour.mp4"


class Meta:
    """The Graph API and the upload host, scripted; every call recorded in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.uploads: list[dict[str, str]] = []
        self.finish_answer: httpx.Response | None = None
        self.upload_answer: httpx.Response | None = None
        self.phases = {"uploading_phase": "not_started", "publishing_phase": "not_started"}

    def graph(self, request: httpx.Request) -> httpx.Response:
        last = request.url.path.rsplit("/", 1)[-1]
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        phase = form.get("upload_phase", "")
        self.calls.append(f"{request.method} {last} {phase}".strip())
        if last == "video_reels" and phase == "start":
            return httpx.Response(200, json={"video_id": "v1", "upload_url": "ignored"})
        if last == "video_reels" and phase == "finish":
            assert form["video_state"] == "PUBLISHED"
            assert form["description"] == "Cook wanted"
            if self.finish_answer is not None:
                return self.finish_answer
            self.phases["publishing_phase"] = "complete"
            return httpx.Response(200, json={"success": True})
        if last == "v1" and "status" in request.url.query.decode():
            status = {name: {"status": value} for name, value in self.phases.items()}
            return httpx.Response(200, json={"status": status})
        if last == "v1":
            return httpx.Response(200, json={"permalink_url": "/reel/v1/"})
        return httpx.Response(400, json={"error": {"message": "unexpected", "code": 100}})

    def upload_host(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(f"UPLOAD {request.url.path}")
        self.uploads.append(
            {k: request.headers[k] for k in ("authorization", "file_url") if k in request.headers}
        )
        if self.upload_answer is not None:
            return self.upload_answer
        self.phases["uploading_phase"] = "complete"
        return httpx.Response(200, json={"success": True})


async def reel_attempt(
    meta: Meta, stack: AsyncExitStack, progress: dict[str, Any] | None = None
) -> tuple[FacebookPoster, Attempt[GraphClient], list[str]]:
    graph_http = await stack.enter_async_context(graph_stub(meta.graph))
    upload_http = await stack.enter_async_context(graph_stub(meta.upload_host))
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    command = PublishCommand(
        post_key=make_post_key(tenant, "job-1", connection, 1), platform=Platform.FACEBOOK,
        connection_id=connection, account_id=PAGE, job_id="job-1", revision=1,
        content=PostContent(text="Cook wanted", format=PostFormat.REEL,
                            media=[MediaItem(kind=MediaKind.VIDEO, url=VIDEO)]),
    )  # fmt: skip
    saved: list[str] = []

    async def checkpoint() -> None:
        saved.append(json.dumps(attempt.progress))

    attempt = Attempt(
        GraphClient(graph_http, "v24.0", None), command, "page-token", progress or {},
        datetime.now(UTC), checkpoint,
    )  # fmt: skip
    return FacebookPoster(ReelUploader(upload_http, "v24.0")), attempt, saved


async def test_a_reel_is_started_uploaded_by_url_and_finished() -> None:
    meta = Meta()
    async with AsyncExitStack() as stack:
        poster, attempt, saved = await reel_attempt(meta, stack)
        published = await poster.publish(attempt)
        posted = await read_through(published)
    assert published == Posted("v1", None)  # the permalink is read once the lane is free
    assert str(posted.permalink) == "https://www.facebook.com/reel/v1/"
    assert meta.calls == [
        "POST video_reels start", "UPLOAD /video-upload/v24.0/v1", "POST video_reels finish",
        "GET v1",
    ]  # fmt: skip
    assert meta.uploads == [{"authorization": "OAuth page-token", "file_url": VIDEO}]
    assert json.loads(saved[0]) == {"reel_video_id": "v1"}  # before the upload


async def test_an_unclear_finish_is_decided_by_the_videos_publishing_phase() -> None:
    meta = Meta()
    meta.finish_answer = httpx.Response(500, text="upstream timed out")
    async with AsyncExitStack() as stack:
        poster, attempt, _ = await reel_attempt(meta, stack)
        with pytest.raises(AmbiguousOutcomeError):
            await poster.publish(attempt)
        # Meta did publish it: reconciliation finds the Reel, no second flow.
        meta.phases["publishing_phase"] = "complete"
        found = await poster.reconcile(attempt)
    assert isinstance(found, Posted)
    assert found.platform_post_id == "v1"
    assert meta.calls.count("POST video_reels start") == 1


async def test_a_finish_that_did_not_happen_is_finished_again_without_a_new_session() -> None:
    meta = Meta()
    meta.finish_answer = httpx.Response(500, text="upstream timed out")
    async with AsyncExitStack() as stack:
        poster, attempt, _ = await reel_attempt(meta, stack)
        with pytest.raises(AmbiguousOutcomeError):
            await poster.publish(attempt)
        assert isinstance(await poster.reconcile(attempt), Absent)
        meta.finish_answer = None
        posted = await poster.publish(attempt)
    assert posted.platform_post_id == "v1"
    assert meta.calls.count("POST video_reels start") == 1
    assert sum(c.startswith("UPLOAD") for c in meta.calls) == 1


async def test_an_upload_that_failed_unclearly_is_uploaded_again() -> None:
    meta = Meta()
    meta.upload_answer = httpx.Response(503, text="")
    async with AsyncExitStack() as stack:
        poster, attempt, _ = await reel_attempt(meta, stack)
        with pytest.raises(AmbiguousOutcomeError):
            await poster.publish(attempt)
        assert isinstance(await poster.reconcile(attempt), Absent)
        meta.upload_answer = None
        await poster.publish(attempt)
    assert sum(c.startswith("UPLOAD") for c in meta.calls) == 2
    assert meta.calls.count("POST video_reels finish") == 1


async def test_an_upload_host_refusal_is_a_graph_error_without_the_token() -> None:
    meta = Meta()
    meta.upload_answer = httpx.Response(
        400, json={"debug_info": {"retriable": False, "message": "bad file page-token"}}
    )
    async with AsyncExitStack() as stack:
        poster, attempt, _ = await reel_attempt(meta, stack)
        with pytest.raises(GraphError, match="reel upload") as failed:
            await poster.publish(attempt)
    assert "page-token" not in str(failed.value)
    assert "POST video_reels finish" not in meta.calls


async def test_a_video_post_is_edited_through_its_description() -> None:
    seen: list[tuple[str, dict[str, list[str]]]] = []

    def graph(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path.rsplit("/", 1)[-1], parse_qs(request.content.decode())))
        return httpx.Response(200, json={"success": True})

    async with AsyncExitStack() as stack:
        _, attempt, _ = await reel_attempt(Meta(), stack)
        attempt.api = GraphClient(await stack.enter_async_context(graph_stub(graph)), "v24.0", None)
        poster = FacebookPoster()
        assert await poster.edit(attempt, "v1")
        assert await poster.edit(attempt, f"{PAGE}_99")
    assert seen == [
        ("v1", {"description": ["Cook wanted"]}),
        (f"{PAGE}_99", {"message": ["Cook wanted"]}),
    ]

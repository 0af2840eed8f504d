"""The Threads poster against the Graph sandbox's Threads host (in process): posts of each
kind, media processing handed back, the publishing limit, ambiguous answers reconciled,
replies as first comments, edit ("cannot") and delete."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devtools.graph_sandbox import SandboxSettings, SandboxState, create_app
from jobcast.graph.client import GraphClient, GraphError
from schemas import MediaItem, MediaKind, Platform, PostContent, PublishCommand, make_post_key
from schemas.publish import ErrorClass
from services.publisher_threads.errors import classify_threads_error
from services.publisher_threads.poster import ThreadsPoster
from services.publishing.containers import ContainerFailedError, ContainerTiming
from services.publishing.posting import Absent, Attempt, NotReadyError, Posted
from tests.graph_stub import graph_stub
from tests.publishing_fakes import read_through

pytestmark = pytest.mark.timeout(20)

USER = "26000000000000007"
TEXT = "Head baker wanted at Kopi Pagi"
IMAGE = MediaItem(kind=MediaKind.IMAGE, url="https://cdn.example.com/a.jpg", alt_text="Ovens")
VIDEO = MediaItem(kind=MediaKind.VIDEO, url="https://cdn.example.com/tour.mp4")
FAST = ContainerTiming(poll_interval_seconds=0.02, inline_wait_seconds=0.1)


@dataclass
class Sandbox:
    state: SandboxState
    http: httpx.AsyncClient
    graph: GraphClient

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        answer = await self.http.request(method, f"/_sandbox{path}", json=body)
        assert answer.is_success, answer.text
        return answer.json()

    async def threads(self) -> list[dict[str, Any]]:
        ledger = await self.control("GET", f"/ledger?account_id={USER}&include_deleted=false")
        return list(ledger["threads_media"])

    def operations(self) -> list[str]:
        return [str(c["operation"]) for c in self.state.calls]


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    state = SandboxState(SandboxSettings(video_processing_s=0.3))
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:

        async def forward(request: httpx.Request) -> httpx.Response:
            answer = await http.request(
                request.method, "/threads-graph" + request.url.raw_path.decode(),
                headers=request.headers, content=request.content,
            )  # fmt: skip
            return httpx.Response(answer.status_code, content=answer.content)

        async with graph_stub(forward) as session:
            yield Sandbox(state, http, GraphClient(session, "v1.0", None))


def attempt_of(
    sandbox: Sandbox, content: PostContent, progress: dict[str, Any] | None = None
) -> Attempt[GraphClient]:
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    command = PublishCommand(
        post_key=make_post_key(tenant, "job-1", connection, 1), platform=Platform.THREADS,
        connection_id=connection, account_id=USER, job_id="job-1", revision=1, content=content,
    )  # fmt: skip

    async def checkpoint() -> None:
        return None

    return Attempt(
        sandbox.graph, command, "THAA-token", progress if progress is not None else {},
        datetime.now(UTC), checkpoint,
    )  # fmt: skip


async def test_a_text_post_is_published_once_with_its_permalink(sandbox: Sandbox) -> None:
    link = "https://jobs.example/apply/1"
    attempt = attempt_of(sandbox, PostContent(text=TEXT, link=link))
    posted = await read_through(await ThreadsPoster(FAST).publish(attempt))
    [thread] = await sandbox.threads()
    assert (posted.platform_post_id, str(posted.permalink)) == (thread["id"], thread["permalink"])
    assert thread["text"] == TEXT
    # The limit is read before the container: one over the limit would only expire.
    assert sandbox.operations() == [
        "threads.publishing_limit", "threads.create", "threads.publish", "threads.media.get",
    ]  # fmt: skip
    container = sandbox.state.threads.containers[attempt.progress["container_id"]]
    assert (container.media_type, container.link_attachment) == ("TEXT", link)


async def test_an_image_and_a_carousel_take_their_media(sandbox: Sandbox) -> None:
    poster = ThreadsPoster(FAST)
    await poster.publish(attempt_of(sandbox, PostContent(text="one", media=[IMAGE])))
    await poster.publish(attempt_of(sandbox, PostContent(text="three", media=[IMAGE] * 3)))
    image, carousel = await sandbox.threads()  # oldest first
    assert (image["media_type"], carousel["media_type"]) == ("IMAGE", "CAROUSEL_ALBUM")
    assert len(carousel["children"]) == 3
    assert sandbox.state.threads.media[image["id"]].alt_text == "Ovens"


async def test_a_video_still_processing_is_handed_back_and_resumed(sandbox: Sandbox) -> None:
    poster = ThreadsPoster(FAST)
    attempt = attempt_of(sandbox, PostContent(text=TEXT, media=[VIDEO]))
    with pytest.raises(NotReadyError):
        await poster.publish(attempt)
    assert await sandbox.threads() == []
    assert "threads.publish" not in sandbox.operations()  # never published too early
    await sandbox.control("POST", "/clock/advance", {"seconds": 1})
    posted = await poster.publish(attempt)  # the same container, from the checkpoint
    [thread] = await sandbox.threads()
    assert posted.platform_post_id == thread["id"]
    assert len(sandbox.state.threads.containers) == 1


async def test_over_the_publishing_limit_the_post_waits_without_a_container(
    sandbox: Sandbox,
) -> None:
    await sandbox.control("PATCH", "/settings", {"threads_quota_total": 0})
    attempt = attempt_of(sandbox, PostContent(text=TEXT))
    with pytest.raises(NotReadyError, match="publishing limit"):
        await ThreadsPoster(FAST).publish(attempt)
    assert sandbox.state.threads.containers == {}


async def test_an_ambiguous_publish_is_found_by_reconciliation_not_posted_again(
    sandbox: Sandbox,
) -> None:
    fault = {"action": "http_500_after_create", "operation": "threads.publish"}
    await sandbox.control("POST", "/faults", fault)
    poster = ThreadsPoster(FAST)
    attempt = attempt_of(sandbox, PostContent(text=TEXT))
    with pytest.raises(GraphError) as failed:
        await poster.publish(attempt)
    assert classify_threads_error(failed.value).ambiguous
    reconciled = await poster.reconcile(attempt)
    [thread] = await sandbox.threads()
    assert isinstance(reconciled, Posted)
    found = await read_through(reconciled)
    assert (found.platform_post_id, str(found.permalink)) == (thread["id"], thread["permalink"])


async def test_a_publish_refused_before_its_effect_is_absent_and_published_again(
    sandbox: Sandbox,
) -> None:
    await sandbox.control("POST", "/faults", {"action": "http_500", "operation": "threads.publish"})
    poster = ThreadsPoster(FAST)
    attempt = attempt_of(sandbox, PostContent(text=TEXT))
    with pytest.raises(GraphError):
        await poster.publish(attempt)
    assert isinstance(await poster.reconcile(attempt), Absent)  # the container is FINISHED
    await poster.publish(attempt)
    assert len(await sandbox.threads()) == 1
    assert isinstance(await poster.reconcile(attempt_of(sandbox, PostContent(text="x"))), Absent)


async def test_a_video_threads_cannot_use_fails_for_good_an_unknown_error_may_retry(
    sandbox: Sandbox,
) -> None:
    poster = ThreadsPoster(ContainerTiming(poll_interval_seconds=0.02, inline_wait_seconds=2))
    avi = MediaItem(kind=MediaKind.VIDEO, url="https://cdn.example.com/tour.avi")
    attempt = attempt_of(sandbox, PostContent(text=TEXT, media=[avi]))
    with pytest.raises(ContainerFailedError, match="FAILED_PROCESSING_VIDEO") as bad:
        await poster.publish(attempt)
    assert classify_threads_error(bad.value).error_class is (ErrorClass.PERMANENT)
    assert "container_id" not in attempt.progress  # the next try starts over
    await sandbox.control(
        "POST", "/faults", {"action": "container_error", "operation": "threads.create"}
    )
    attempt = attempt_of(sandbox, PostContent(text=TEXT, media=[VIDEO]))
    with pytest.raises(ContainerFailedError, match="UNKNOWN") as unknown:
        await poster.publish(attempt)
    assert classify_threads_error(unknown.value).error_class is (ErrorClass.TRANSIENT)


async def test_the_first_comment_is_a_reply_found_again_after_an_ambiguous_answer(
    sandbox: Sandbox,
) -> None:
    poster = ThreadsPoster(FAST)
    posted = await poster.publish(attempt_of(sandbox, PostContent(text=TEXT)))
    thread_id = posted.platform_post_id
    await sandbox.control(
        "POST", "/faults", {"action": "http_500_after_create", "operation": "threads.publish"}
    )
    comment = attempt_of(sandbox, PostContent(text="Apply: jobs.example"), {"post_id": thread_id})
    with pytest.raises(GraphError):
        await poster.comment(comment, thread_id, "Apply: jobs.example")
    found = await poster.find_comment(comment, thread_id, "Apply: jobs.example")
    [reply] = sandbox.state.threads.replies_by_media[thread_id]
    assert isinstance(found, Posted)
    assert found.platform_post_id == reply.id
    assert comment.progress["post_id"] == thread_id  # the comment's own state is kept
    limit = await sandbox.graph.call(
        "GET", f"{USER}/threads_publishing_limit", "t", params={"fields": "reply_quota_usage"}
    )
    assert limit["data"][0]["reply_quota_usage"] == 1


async def test_threads_cannot_edit_and_deletes_once(sandbox: Sandbox) -> None:
    poster = ThreadsPoster(FAST)
    attempt = attempt_of(sandbox, PostContent(text=TEXT))
    posted = await poster.publish(attempt)
    assert await poster.edit(attempt, posted.platform_post_id) is False
    assert await poster.delete(attempt, posted.platform_post_id) is True
    assert await poster.delete(attempt, posted.platform_post_id) is True  # a retried delete
    assert await sandbox.threads() == []

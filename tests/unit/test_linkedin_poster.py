"""The LinkedIn poster against the LinkedIn sandbox (served on a socket): article, text and
image posts, waiting for an image, reconciliation, edit, delete and first comments."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from pydantic import HttpUrl

from devtools.graph_sandbox import FaultRule, SandboxState, create_app
from devtools.graph_sandbox.server import SandboxServer
from devtools.linkedin_sandbox.control import TINY_JPEG
from jobcast.graph.session import graph_session
from jobcast.linkedin.client import LinkedInClient
from jobcast.linkedin.errors import LinkedInError, classify_linkedin_error
from jobcast.platform_api import AmbiguousOutcomeError
from schemas.publish import ErrorClass, PublishCommand
from services.publisher_linkedin import poster as poster_module
from services.publisher_linkedin.poster import PAGE_SIZE, ImageTiming, LinkedInPoster
from services.publishing.posting import Absent, Attempt, NotReadyError, Posted, Undecided

pytestmark = pytest.mark.timeout(30)

ORG = "2414183"
TOKEN = "li-member-token"


class Media:
    """The image bytes every media URL gives."""

    def __init__(self) -> None:
        self.fetched: list[str] = []

    async def fetch(self, url: str) -> bytes:
        self.fetched.append(url)
        return TINY_JPEG


@dataclass
class Sandbox:
    state: SandboxState
    api: LinkedInClient
    control: httpx.AsyncClient

    async def ledger(self) -> dict[str, Any]:
        answer = await self.control.get(
            "/_sandbox/linkedin/ledger", params={"organization_id": ORG}
        )
        body: dict[str, Any] = answer.json()
        return body


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    state = SandboxState()
    server = SandboxServer(state, create_app(state))
    port = await server.start("127.0.0.1", 0)
    base = f"http://127.0.0.1:{port}"
    async with (
        graph_session(f"{base}/linkedin", timeout_seconds=2.0) as http,
        httpx.AsyncClient(base_url=base) as control,
    ):
        yield Sandbox(state, LinkedInClient(http, "202611"), control)
    await server.shutdown(1.0)


def command(text: str = "Line cook (m/f) #kitchen", **content: Any) -> PublishCommand:
    return PublishCommand.model_validate(
        {
            "post_key": "pk_" + "0" * 32,
            "revision": 1,
            "platform": "linkedin",
            "connection_id": str(uuid4()),
            "account_id": ORG,
            "job_id": "job-1",
            "content": {"text": text, **content},
        }
    )


def attempt(
    api: LinkedInClient, cmd: PublishCommand, progress: dict[str, Any] | None = None
) -> Attempt[LinkedInClient]:
    async def checkpoint() -> None:
        return None

    return Attempt(
        api, cmd, TOKEN, progress if progress is not None else {},
        datetime.now(UTC) - timedelta(seconds=5), checkpoint,
    )  # fmt: skip


async def test_an_article_post_links_the_job_and_escapes_little_text(sandbox: Sandbox) -> None:
    cmd = command(link="https://jobs.example.com/1")
    posted = await LinkedInPoster(Media()).publish(attempt(sandbox.api, cmd))
    assert posted.platform_post_id.startswith("urn:li:share:")
    assert (
        str(posted.permalink) == f"https://www.linkedin.com/feed/update/{posted.platform_post_id}/"
    )
    [post] = (await sandbox.ledger())["posts"]
    assert post["commentary"] == "Line cook \\(m/f\\) #kitchen"
    assert post["content"]["article"]["source"] == "https://jobs.example.com/1"
    assert post["content"]["article"]["title"] == "Line cook (m/f) #kitchen"


async def test_an_image_post_uploads_then_waits_for_the_image(sandbox: Sandbox) -> None:
    sandbox.state.linkedin.settings.image_processing_s = 0.6
    media = Media()
    poster = LinkedInPoster(media, ImageTiming(inline_wait_seconds=0.1, poll_interval_seconds=0.05))
    cmd = command(
        media=[{"kind": "image", "url": "https://cdn.example.com/a.jpg", "alt_text": "Kitchen"}]
    )
    progress: dict[str, Any] = {}
    with pytest.raises(NotReadyError):
        await poster.publish(attempt(sandbox.api, cmd, progress))
    assert progress["image_urn"].startswith("urn:li:image:")
    poster = LinkedInPoster(media, ImageTiming(inline_wait_seconds=2.0, poll_interval_seconds=0.05))
    posted = await poster.publish(attempt(sandbox.api, cmd, progress))
    assert media.fetched == ["https://cdn.example.com/a.jpg"]  # uploaded once
    [post] = (await sandbox.ledger())["posts"]
    assert post["id"] == posted.platform_post_id
    assert post["content"] == {"media": {"id": progress["image_urn"], "altText": "Kitchen"}}


async def test_an_image_that_fails_processing_fails_the_post_for_good(sandbox: Sandbox) -> None:
    sandbox.state.faults.add(FaultRule(action="container_error", operation="li.images.upload"))
    cmd = command(media=[{"kind": "image", "url": "https://cdn.example.com/a.jpg"}])
    progress: dict[str, Any] = {}
    with pytest.raises(LinkedInError) as caught:
        await LinkedInPoster(Media()).publish(attempt(sandbox.api, cmd, progress))
    assert classify_linkedin_error(caught.value).error_class is ErrorClass.PERMANENT
    assert "image_urn" not in progress  # a later try starts over
    assert (await sandbox.ledger())["counts"]["posts"] == 0


async def test_a_500_after_the_create_is_reconciled_to_the_post(sandbox: Sandbox) -> None:
    sandbox.state.faults.add(FaultRule(action="http_500_after_create", operation="li.posts.create"))
    poster = LinkedInPoster(Media())
    cmd = command(link="https://jobs.example.com/2")
    with pytest.raises(LinkedInError) as caught:
        await poster.publish(attempt(sandbox.api, cmd))
    assert classify_linkedin_error(caught.value).ambiguous
    found = await poster.reconcile(attempt(sandbox.api, cmd))
    [post] = (await sandbox.ledger())["posts"]
    assert found == Posted(post["id"], HttpUrl(post["permalink"]))


async def test_a_500_before_the_create_reconciles_to_absent(sandbox: Sandbox) -> None:
    sandbox.state.faults.add(FaultRule(action="http_500", operation="li.posts.create"))
    poster = LinkedInPoster(Media())
    cmd = command()
    with pytest.raises(LinkedInError):
        await poster.publish(attempt(sandbox.api, cmd))
    assert await poster.reconcile(attempt(sandbox.api, cmd)) == Absent()
    # A post with other text, or made before the claim, is not ours.
    await poster.publish(attempt(sandbox.api, command("Another job")))
    assert await poster.reconcile(attempt(sandbox.api, cmd)) == Absent()


async def test_reconciling_reads_past_the_newest_page_of_a_busy_organization(
    sandbox: Sandbox,
) -> None:
    # Under load, many posts go up between an ambiguous create and its check: the newest
    # page alone would call ours absent, and it would be posted twice.
    poster = LinkedInPoster(Media())
    cmd = command("Ours")
    ours = await poster.publish(attempt(sandbox.api, cmd))
    for n in range(PAGE_SIZE + 5):
        await poster.publish(attempt(sandbox.api, command(f"Later job {n}")))
    assert await poster.reconcile(attempt(sandbox.api, cmd)) == ours


async def test_reconciling_past_the_page_limit_is_undecided_not_absent(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poster_module, "PAGE_SIZE", 2)
    monkeypatch.setattr(poster_module, "MAX_PAGES", 2)
    poster = LinkedInPoster(Media())
    for n in range(5):
        await poster.publish(attempt(sandbox.api, command(f"Later job {n}")))
    found = await poster.reconcile(attempt(sandbox.api, command("Ours")))
    assert isinstance(found, Undecided)
    assert "more than 4 entries" in found.reason


async def test_reconciling_stops_at_a_page_that_reaches_past_the_claim(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poster_module, "PAGE_SIZE", 2)
    poster = LinkedInPoster(Media())
    for n in range(5):
        await poster.publish(attempt(sandbox.api, command(f"Old job {n}")))
    pages: list[str] = []
    call = sandbox.api.call

    async def counted(method: str, path: str, token: str, **kwargs: Any) -> Any:
        pages.extend(v for k, v in kwargs.get("params") or [] if k == "start")
        return await call(method, path, token, **kwargs)

    monkeypatch.setattr(sandbox.api, "call", counted)
    later = attempt(sandbox.api, command("Ours"))
    later = Attempt(
        later.api, later.command, TOKEN, {}, datetime.now(UTC) + timedelta(hours=1),
        later.checkpoint,
    )  # fmt: skip
    assert await poster.reconcile(later) == Absent()
    assert pages == ["0"]  # its posts are all older than the claim: nothing further back


async def test_a_timeout_is_ambiguous(sandbox: Sandbox) -> None:
    sandbox.state.faults.add(
        FaultRule(action="timeout", operation="li.posts.create", timeout_s=5, after_create=True)
    )
    with pytest.raises(AmbiguousOutcomeError):
        await LinkedInPoster(Media()).publish(attempt(sandbox.api, command()))
    assert (await sandbox.ledger())["counts"]["posts"] == 1


async def test_edit_delete_and_a_first_comment(sandbox: Sandbox) -> None:
    poster = LinkedInPoster(Media())
    posted = await poster.publish(attempt(sandbox.api, command()))
    urn = posted.platform_post_id
    assert await poster.edit(attempt(sandbox.api, command("Still hiring: line cook")), urn)
    comment_id = await poster.comment(attempt(sandbox.api, command()), urn, "Apply by Friday")
    found = await poster.find_comment(attempt(sandbox.api, command()), urn, "Apply by Friday")
    assert found == Posted(comment_id, None)
    assert await poster.find_comment(attempt(sandbox.api, command()), urn, "other") == Absent()
    [post] = (await sandbox.ledger())["posts"]
    assert post["commentary"] == "Still hiring: line cook"
    assert await poster.delete(attempt(sandbox.api, command()), urn)
    assert await poster.delete(attempt(sandbox.api, command()), urn)  # gone already: done
    assert (await sandbox.ledger())["counts"]["posts"] == 0


async def test_our_comment_is_found_behind_a_page_of_later_ones(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(poster_module, "PAGE_SIZE", 3)
    poster = LinkedInPoster(Media())
    urn = (await poster.publish(attempt(sandbox.api, command()))).platform_post_id
    ours = await poster.comment(attempt(sandbox.api, command()), urn, "Apply by Friday")
    for n in range(4):
        await poster.comment(attempt(sandbox.api, command()), urn, f"Reply {n}")
    found = await poster.find_comment(attempt(sandbox.api, command()), urn, "Apply by Friday")
    assert found == Posted(ours, None)


async def test_an_expired_token_is_an_auth_error(sandbox: Sandbox) -> None:
    sandbox.state.faults.add(
        FaultRule(action="error", operation="li.*", http_status=401, code=65601)
    )
    with pytest.raises(LinkedInError) as caught:
        await LinkedInPoster(Media()).publish(attempt(sandbox.api, command()))
    assert classify_linkedin_error(caught.value).error_class is ErrorClass.AUTH


async def test_a_video_makes_an_article_of_the_link(sandbox: Sandbox) -> None:
    cmd = command(
        link="https://jobs.example.com/3",
        media=[{"kind": "video", "url": "https://cdn.example.com/tour.mp4"}],
    )
    media = Media()
    await LinkedInPoster(media).publish(attempt(sandbox.api, cmd))
    [post] = (await sandbox.ledger())["posts"]
    assert post["content"]["article"]["source"] == "https://jobs.example.com/3"
    assert media.fetched == []


async def test_an_image_a_dead_holder_uploaded_is_not_uploaded_again(sandbox: Sandbox) -> None:
    media = Media()
    poster = LinkedInPoster(media, ImageTiming(inline_wait_seconds=2.0, poll_interval_seconds=0.05))
    cmd = command(media=[{"kind": "image", "url": "https://cdn.example.com/a.jpg"}])
    progress: dict[str, Any] = {}
    await poster.publish(attempt(sandbox.api, cmd, progress))
    # What a holder killed right after its upload left: the image initialised (checkpointed),
    # not that it was uploaded. LinkedIn refuses a second upload to the same URL.
    left = {key: progress[key] for key in ("image_urn", "upload_url")}
    posted = await poster.publish(attempt(sandbox.api, cmd, left))
    assert media.fetched == ["https://cdn.example.com/a.jpg"]  # uploaded once
    assert posted.platform_post_id.startswith("urn:li:share:")

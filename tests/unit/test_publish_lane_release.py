"""A publisher frees its lane once a post's platform calls are made (the account's next
post may start); an edit of that post arriving meanwhile waits, in process, for the
post's outcome to be stored instead of parking for a minute."""

from __future__ import annotations

import asyncio
import gc
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from pydantic import HttpUrl

from jobcast.graph.credentials import Usable
from schemas import Platform, PostContent, PublishCommand, PublishRequested
from schemas.envelope import utcnow
from schemas.publish import PublishAction, PublishStatus, make_post_key
from services.publishing import repo, worker
from services.publishing.posting import Absent, Attempt, Posted
from tests.publishing_fakes import facebook_worker

pytestmark = pytest.mark.timeout(10)


class _Poster:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def publish(self, attempt: Attempt[Any]) -> Posted:
        self.calls.append("publish")
        return Posted("fb-post-1", None)

    async def reconcile(self, attempt: Attempt[Any]) -> Any:
        self.calls.append("reconcile")
        return Absent()

    async def edit(self, attempt: Attempt[Any], target: str) -> bool:
        self.calls.append(f"edit {target}")
        return True


class _Token:
    async def get(self, tenant_id: Any, connection_id: Any) -> Usable:
        return Usable("page-1", "token")

    def forget(self, tenant_id: Any, connection_id: Any) -> None:
        return None


def _publisher(monkeypatch: pytest.MonkeyPatch, poster: Any) -> worker.PublishWorker[Any]:
    """A Facebook publish worker around `poster`, with results going nowhere."""

    async def fake_publish(broker: Any, topic: str, event: Any, **kw: Any) -> None:
        return None

    async def fake_mark(pool: Any, sent: Sequence[repo.Sent]) -> list[None]:
        return [None] * len(sent)

    monkeypatch.setattr(repo, "mark_sent_many", fake_mark)
    monkeypatch.setattr(worker, "publish_event", fake_publish)
    publisher: worker.PublishWorker[Any] = facebook_worker(poster, fake_publish, lease_seconds=0.2)
    publisher._credentials = _Token()  # type: ignore[assignment]
    return publisher


def _command(post_key: str, connection: uuid.UUID) -> PublishCommand:
    return PublishCommand(
        post_key=post_key, platform=Platform.FACEBOOK, connection_id=connection,
        account_id="page-1", job_id="job-1", revision=1, content=PostContent(text="Barista"),
    )  # fmt: skip


def _claim(event: PublishRequested) -> repo.Claim:
    return repo.Claim(
        event=event, correlation_id="corr", attempt=1, progress={}, claimed_at=utcnow(),
        confirm_checks=0, resume=repo.Resume.FRESH,
    )  # fmt: skip


async def test_an_edit_waits_for_its_original_being_stored_here(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store_original = asyncio.Event()
    stored: dict[str, str | None] = {}
    recorded: list[repo.Outcome] = []

    async def fake_record(pool: Any, outcomes: Sequence[repo.Outcome]) -> list[None]:
        if any(o.result.payload.action is PublishAction.PUBLISH for o in outcomes):
            await store_original.wait()  # the original's outcome is slow to store
        for o in outcomes:
            stored[o.key] = o.result.payload.platform_post_id
        recorded.extend(outcomes)
        return [None] * len(outcomes)

    async def fake_original(pool: Any, post_key: str) -> repo.Original:
        found = stored.get(post_key)
        return repo.Original(found, settled=found is not None)

    monkeypatch.setattr(repo, "record_many", fake_record)
    monkeypatch.setattr(repo, "original_of", fake_original)
    poster = _Poster()
    publisher = _publisher(monkeypatch, poster)
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    original_key = make_post_key(tenant, "job-1", connection, 1)
    command = _command(original_key, connection)
    edit = command.model_copy(update={
        "post_key": make_post_key(tenant, "job-1", connection, 2, PublishAction.EDIT),
        "revision": 2, "action": PublishAction.EDIT, "original_post_key": original_key,
        "content": PostContent(text="Head barista"),
    })  # fmt: skip

    posting = asyncio.create_task(
        publisher.run(_claim(PublishRequested(tenant_id=tenant, payload=command)))
    )
    while poster.calls != ["publish"]:
        await asyncio.sleep(0.001)
    editing = asyncio.create_task(
        publisher.run(_claim(PublishRequested(tenant_id=tenant, payload=edit)))
    )
    await asyncio.sleep(0.05)
    assert poster.calls == ["publish"]  # the edit waits for the original's outcome
    store_original.set()
    await asyncio.gather(posting, editing)
    assert poster.calls == ["publish", "edit fb-post-1"]
    statuses = [o.result.payload.status for o in recorded]
    assert statuses == [PublishStatus.POSTED, PublishStatus.EDITED]


class _PosterReadingLater(_Poster):
    """Posts without a permalink in the answer: it is read when the worker asks."""

    def __init__(self, read: Callable[[], Awaitable[HttpUrl | None]]) -> None:
        super().__init__()
        self._read = read

    async def publish(self, attempt: Attempt[Any]) -> Posted:
        self.calls.append("publish")

        async def read() -> HttpUrl | None:
            self.calls.append("read permalink")
            return await self._read()

        return Posted("fb-post-1", None, read)


async def _posted_outcome(
    monkeypatch: pytest.MonkeyPatch, read: Callable[[], Awaitable[HttpUrl | None]]
) -> tuple[list[str], repo.Outcome]:
    recorded: list[repo.Outcome] = []

    async def fake_record(pool: Any, outcomes: Sequence[repo.Outcome]) -> list[None]:
        recorded.extend(outcomes)
        return [None] * len(outcomes)

    monkeypatch.setattr(repo, "record_many", fake_record)
    poster = _PosterReadingLater(read)
    monkeypatch.setattr(worker, "release_lane", lambda: poster.calls.append("lane released"))
    publisher = _publisher(monkeypatch, poster)
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    command = _command(make_post_key(tenant, "job-1", connection, 1), connection)
    await publisher.run(_claim(PublishRequested(tenant_id=tenant, payload=command)))
    [outcome] = recorded
    return poster.calls, outcome


async def test_a_permalink_not_in_the_answer_is_read_after_the_lane_is_free(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def read() -> HttpUrl | None:
        return HttpUrl("https://www.facebook.com/page-1/posts/1")

    calls, outcome = await _posted_outcome(monkeypatch, read)
    assert calls == ["publish", "lane released", "read permalink"]
    assert outcome.result.payload.status is PublishStatus.POSTED
    assert str(outcome.result.payload.permalink) == "https://www.facebook.com/page-1/posts/1"


async def test_a_permalink_read_that_hangs_leaves_the_post_posted_without_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def read() -> HttpUrl | None:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")

    calls, outcome = await _posted_outcome(monkeypatch, read)
    assert calls == ["publish", "lane released", "read permalink"]
    assert outcome.result.payload.status is PublishStatus.POSTED
    assert outcome.result.payload.platform_post_id == "fb-post-1"
    assert outcome.result.payload.permalink is None


class _PreparingPoster(_Poster):
    async def prepare(self, attempt: Attempt[Any]) -> None:
        self.calls.append("prepare")


async def test_a_new_post_is_prepared_before_its_turn_and_published_in_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def fake_record(pool: Any, outcomes: Sequence[repo.Outcome]) -> list[None]:
        return [None] * len(outcomes)

    poster = _PreparingPoster()

    async def turn() -> None:
        poster.calls.append("turn")

    monkeypatch.setattr(repo, "record_many", fake_record)
    monkeypatch.setattr(worker, "lane_turn", turn)
    monkeypatch.setattr(worker, "release_lane", lambda: poster.calls.append("lane released"))
    publisher = _publisher(monkeypatch, poster)
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    command = _command(make_post_key(tenant, "job-1", connection, 1), connection)
    await publisher.run(_claim(PublishRequested(tenant_id=tenant, payload=command)))
    assert poster.calls == ["prepare", "turn", "publish", "lane released"]

    # A post an earlier attempt may have made is looked for in its turn: nothing ahead.
    poster.calls.clear()
    claim = replace(
        _claim(PublishRequested(tenant_id=tenant, payload=command)), resume=repo.Resume.RECONCILE
    )
    await publisher.run(claim)
    assert poster.calls[:2] == ["turn", "reconcile"]


class _PosterKeepingWatch(_Poster):
    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[weakref.ref[Attempt[Any]]] = []

    async def publish(self, attempt: Attempt[Any]) -> Posted:
        self.attempts.append(weakref.ref(attempt))
        return await super().publish(attempt)


async def test_an_attempt_is_freed_when_its_command_is_done_not_left_to_the_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reference cycle through an attempt keeps its command's objects until the cyclic
    collector runs: with the publishers' rare collections, a pass freeing thousands of
    them at once held the event loop, and every account's posts waited."""

    async def fake_record(pool: Any, outcomes: Sequence[repo.Outcome]) -> list[None]:
        return [None] * len(outcomes)

    monkeypatch.setattr(repo, "record_many", fake_record)
    poster = _PosterKeepingWatch()
    publisher = _publisher(monkeypatch, poster)
    tenant, connection = uuid.uuid4(), uuid.uuid4()
    command = _command(make_post_key(tenant, "job-1", connection, 1), connection)
    gc.disable()
    try:
        await publisher.run(_claim(PublishRequested(tenant_id=tenant, payload=command)))
        [attempt] = poster.attempts
        assert attempt() is None
    finally:
        gc.enable()
